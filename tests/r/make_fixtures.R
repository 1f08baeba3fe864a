# Reference values for skmipool's tests, from R mice 3.15 and mitml 0.4.
#
# Run from the repository root:
#   apt-get install -y r-base-core r-cran-mice r-cran-mitml r-cran-survival
#   Rscript tests/r/make_fixtures.R
# It reads the data shipped in skmipool/datasets/data and writes JSON and CSV
# files to tests/fixtures/. CI only reads those files; it does not need R.

suppressPackageStartupMessages({
  library(mice)
  library(mitml)
  library(survival)
  library(jsonlite)
})

out_dir <- "tests/fixtures"
data_dir <- "skmipool/datasets/data"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

# JSON cannot hold Inf: write it as the string "Inf" (the tests parse it back).
enc <- function(x) {
  if (is.list(x)) return(lapply(x, enc))
  if (is.numeric(x) && length(x) == 1 && is.null(names(x)) && is.infinite(x)) {
    return(ifelse(x > 0, "Inf", "-Inf"))
  }
  if (is.numeric(x) && any(is.infinite(x))) {
    y <- as.list(x)
    y <- lapply(y, function(v) if (is.infinite(v)) ifelse(v > 0, "Inf", "-Inf") else v)
    names(y) <- names(x)
    return(y)
  }
  x
}
write_json_fixture <- function(obj, name) {
  writeLines(toJSON(enc(obj), digits = NA, auto_unbox = TRUE, pretty = TRUE),
             file.path(out_dir, name))
}

versions <- list(
  R = R.version.string,
  mice = as.character(packageVersion("mice")),
  mitml = as.character(packageVersion("mitml")),
  survival = as.character(packageVersion("survival"))
)

# ---------------------------------------------------------------- pool.scalar
# Random inputs for M in {2, 3, 5, 100} and dfcom in {Inf, 4, 30, 1000}, plus
# B = 0 (identical estimates). mice 3.15 floors lambda at 1e-4 inside
# barnard.rubin; for B = 0 the expected df is the exact limit instead:
# dfcom (dfcom + 1) / (dfcom + 3), or Inf when dfcom is Inf.
set.seed(20261122)
scalar_cases <- list()
for (m in c(2, 3, 5, 100)) {
  for (dfcom in c(Inf, 4, 30, 1000)) {
    for (b_zero in c(FALSE, TRUE)) {
      Q <- if (b_zero) rep(rnorm(1, 2, 1), m) else rnorm(m, 2, runif(1, 0.05, 1))
      U <- rexp(m, 1 / runif(1, 0.05, 0.5))
      # pool.scalar(n, k) uses dfcom = n - k
      res <- pool.scalar(Q, U, n = dfcom + 1, k = 1)
      lambda <- (1 + 1 / m) * res$b / res$t
      df <- res$df
      fmi <- res$fmi
      if (b_zero) {
        df <- if (is.infinite(dfcom)) Inf else dfcom * (dfcom + 1) / (dfcom + 3)
        fmi <- (res$r + 2 / (df + 3)) / (res$r + 1)
      }
      scalar_cases[[length(scalar_cases) + 1]] <- list(
        m = m, dfcom = dfcom, b_zero = b_zero, Q = Q, U = U,
        qbar = res$qbar, ubar = res$ubar, b = res$b, t = res$t, df = df,
        riv = res$r, lambda = lambda, fmi = fmi
      )
    }
  }
}
write_json_fixture(list(versions = versions, cases = scalar_cases), "pool_scalar.json")

# ---------------------------------------------------------------- model fits
read_data <- function(name) read.csv(file.path(data_dir, name), na.strings = "")

tidy_pool <- function(fit, dfcom = NULL) {
  p <- pool(fit, dfcom = dfcom)
  s <- summary(p, conf.int = TRUE)
  pooled <- p$pooled
  list(
    term = as.character(s$term),
    estimate = s$estimate, std_error = s$std.error, statistic = s$statistic,
    df = s$df, p_value = s$p.value,
    conf_low = s[["2.5 %"]], conf_high = s[["97.5 %"]],
    riv = pooled$riv, lambda = pooled$lambda, fmi = pooled$fmi,
    ubar = pooled$ubar, b = pooled$b, t = pooled$t, dfcom = pooled$dfcom[1]
  )
}

per_fit <- function(fit) {
  lapply(fit$analyses, function(f) {
    v <- vcov(f)
    out <- list(
      coef = unname(coef(f)), names = names(coef(f)),
      vcov = unname(as.matrix(v)),
      loglik = as.numeric(logLik(f))
    )
    if (!is.null(f$df.residual)) out$df_residual <- f$df.residual
    if (inherits(f, "coxph")) {
      out$nevent <- f$nevent
      if (!is.null(f$naive.var)) out$naive_vcov <- unname(f$naive.var)
    }
    out
  })
}

write_completed <- function(imp, name) {
  long <- complete(imp, "long")
  write.csv(long, file.path(out_dir, name), row.names = FALSE, na = "")
}

ctrl <- glm.control(epsilon = 1e-14, maxit = 100)
# glm computes vcov from the IRLS weights of its last-but-one iterate; refitting
# from the converged estimate makes the weights (and so vcov) those of the MLE.
glm_tight <- function(formula, family, data) {
  f <- glm(formula, family = family, data = data, control = ctrl)
  glm(formula, family = family, data = data, control = ctrl, start = coef(f))
}

# nhanes: lm(chl ~ age + bmi + hyp), m = 5
nhanes <- read_data("nhanes.csv")
imp_nh <- mice(nhanes, m = 5, seed = 123, printFlag = FALSE)
write_completed(imp_nh, "nhanes_completed.csv")
fit_lm <- with(imp_nh, lm(chl ~ age + bmi + hyp))
fit_lm0 <- with(imp_nh, lm(chl ~ age))
fit_pois <- with(imp_nh, glm_tight(chl ~ age + bmi, poisson, data.frame(chl, age, bmi)))

# nhanes2: glm(hyp ~ bmi + chl, binomial), m = 5
nhanes2 <- read_data("nhanes2.csv")
nhanes2$age <- factor(nhanes2$age, levels = c("20-39", "40-59", "60-99"))
nhanes2$hyp <- factor(nhanes2$hyp, levels = c("no", "yes"))
imp_nh2 <- mice(nhanes2, m = 5, seed = 321, printFlag = FALSE)
write_completed(imp_nh2, "nhanes2_completed.csv")
fit_logit <- with(imp_nh2, glm_tight(hyp ~ bmi + chl, binomial, data.frame(hyp, bmi, chl)))
fit_logit0 <- with(imp_nh2, glm_tight(hyp ~ bmi, binomial, data.frame(hyp, bmi)))

# stanford2: coxph(Surv(time, status) ~ age + t5, ties = "efron"), m = 5
stanford2 <- read_data("stanford2.csv")
stanford2$cid <- round(stanford2$id / 10) + 1
imp_st <- mice(stanford2, m = 5, seed = 2024, printFlag = FALSE)
write_completed(imp_st, "stanford2_completed.csv")
fit_cox <- with(imp_st, coxph(Surv(time, status) ~ age + t5, ties = "efron"))
fit_cox_cl <- with(imp_st, coxph(Surv(time, status) ~ age + t5 + cluster(cid), ties = "efron"))

fits <- list(
  lm = list(fits = per_fit(fit_lm), pooled = tidy_pool(fit_lm)),
  lm_dfcom_inf = list(pooled = tidy_pool(fit_lm, dfcom = Inf)),
  lm_null = list(fits = per_fit(fit_lm0), pooled = tidy_pool(fit_lm0)),
  poisson = list(fits = per_fit(fit_pois), pooled = tidy_pool(fit_pois)),
  logit = list(fits = per_fit(fit_logit), pooled = tidy_pool(fit_logit)),
  logit_null = list(fits = per_fit(fit_logit0), pooled = tidy_pool(fit_logit0)),
  cox = list(fits = per_fit(fit_cox), pooled = tidy_pool(fit_cox)),
  cox_cluster = list(fits = per_fit(fit_cox_cl), pooled = tidy_pool(fit_cox_cl))
)
write_json_fixture(list(versions = versions, models = fits), "pool_models.json")

# ---------------------------------------------------------------- D1, D2, D3
test_row <- function(x) {
  r <- as.numeric(x)
  list(statistic = r[1], df1 = r[2], df2 = r[3], p_value = r[4], riv = r[5])
}
ml <- function(fit) as.mitml.result(fit)

tests <- list()
# mice D1 passes df.residual of the full model as df.com (Reiter 2007 df)
tests$D1_reiter <- c(test_row(D1(fit_lm, fit_lm0)$result), dfcom = fit_lm$analyses[[1]]$df.residual)
tests$D1_lrr <- test_row(testModels(ml(fit_lm), ml(fit_lm0), method = "D1")$test)
tests$D2_wald <- test_row(D2(fit_lm, fit_lm0, use = "wald")$result)
tests$D2_likelihood <- test_row(D2(fit_lm, fit_lm0, use = "likelihood")$result)
tests$D3_lm <- test_row(testModels(ml(fit_lm), ml(fit_lm0), method = "D3")$test)
tests$logit_D1_reiter <- c(test_row(D1(fit_logit, fit_logit0)$result),
                           dfcom = fit_logit$analyses[[1]]$df.residual)
tests$logit_D2_wald <- test_row(D2(fit_logit, fit_logit0, use = "wald")$result)
tests$logit_D2_likelihood <- test_row(D2(fit_logit, fit_logit0, use = "likelihood")$result)

# D3 for a logistic model: mitml cannot evaluate glm likelihoods, so the same
# Meng & Rubin (1992) formulas as mitml's lm branch are written out here, with
# the binomial log-likelihood evaluated at the pooled coefficients.
d3_glm <- function(fit1, fit0) {
  ll_at <- function(f, beta) {
    X <- model.matrix(f); y <- f$y
    p <- plogis(drop(X %*% beta))
    sum(dbinom(y, 1, p, log = TRUE))
  }
  a1 <- fit1$analyses; a0 <- fit0$analyses; m <- length(a1)
  b1 <- rowMeans(sapply(a1, coef)); b0 <- rowMeans(sapply(a0, coef))
  k <- length(b1) - length(b0)
  dbar <- mean(sapply(seq_len(m), function(i) -2 * (as.numeric(logLik(a0[[i]])) - as.numeric(logLik(a1[[i]])))))
  dtil <- mean(sapply(seq_len(m), function(i) -2 * (ll_at(a0[[i]], b0) - ll_at(a1[[i]], b1))))
  r <- (m + 1) / (k * (m - 1)) * (dbar - dtil)
  val <- dtil / (k * (1 + r))
  t <- k * (m - 1)
  v <- if (t > 4) 4 + (t - 4) * (1 + (1 - 2 / t) / r)^2 else t * (1 + 1 / k) * (1 + 1 / r)^2 / 2
  list(statistic = val, df1 = k, df2 = v, p_value = pf(val, k, v, lower.tail = FALSE), riv = r)
}
tests$logit_D3 <- d3_glm(fit_logit, fit_logit0)

# pool.r.squared: estimate and fmi from mice; the t-based, clamped interval of
# skmipool written out by hand.
r2_ref <- function(fit, adjusted) {
  tab <- pool.r.squared(fit, adjusted = adjusted)
  r2 <- sapply(fit$analyses, function(f) if (adjusted) summary(f)$adj.r.squared else summary(f)$r.squared)
  n <- sapply(fit$analyses, function(f) length(residuals(f)))
  z <- atanh(sign(r2) * sqrt(abs(r2)))
  ps <- pool.scalar(z, 1 / (n - 3))
  half <- qt(0.975, ps$df) * sqrt(ps$t)
  lims <- pmin(pmax(tanh(c(ps$qbar - half, ps$qbar + half)), 0), 1)
  list(estimate = tab[1, 1], mice_lo = tab[1, 2], mice_hi = tab[1, 3], fmi = tab[1, 4],
       conf_low = lims[1]^2, conf_high = lims[2]^2)
}
tests$r_squared <- r2_ref(fit_lm, FALSE)
tests$adj_r_squared <- r2_ref(fit_lm, TRUE)

# Correlation of bmi and chl on the completed nhanes data, pooled on Fisher's z
# (FIMD 5.2: z = atanh(r), variance 1 / (n - 3)), reported as r.
cor_ref <- function(imp) {
  z <- sapply(seq_len(imp$m), function(i) {
    d <- complete(imp, i)
    atanh(cor(d$bmi, d$chl))
  })
  n <- nrow(imp$data)
  ps <- pool.scalar(z, rep(1 / (n - 3), length(z)))
  half <- qt(0.975, ps$df) * sqrt(ps$t)
  list(z = z, estimate = tanh(ps$qbar), conf_low = tanh(ps$qbar - half),
       conf_high = tanh(ps$qbar + half), df = ps$df, fmi = ps$fmi, std_error = sqrt(ps$t))
}
tests$correlation_bmi_chl <- cor_ref(imp_nh)

write_json_fixture(list(versions = versions, tests = tests), "pool_tests.json")
cat("fixtures written to", out_dir, "\n")
