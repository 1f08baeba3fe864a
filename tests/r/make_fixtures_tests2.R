# Reference values for D4, testConstraints and Reiter's (2003) rules, from R
# mice 3.15 and mitml 0.4-4 (tests/test_multiparameter_extra.py reads them).
#
# Run from the repository root, after tests/r/make_fixtures.R:
#   Rscript tests/r/make_fixtures_tests2.R
# It reads the completed datasets that make_fixtures.R wrote
# (tests/fixtures/nhanes_completed.csv, nhanes2_completed.csv), writes one more
# (nhanes2_m10_completed.csv: mice's own D3 test case, m = 10, seed = 219) and
# writes tests/fixtures/pool_tests2.json. CI only reads these files.

suppressPackageStartupMessages({
  library(mice)
  library(mitml)
  library(jsonlite)
})

out_dir <- "tests/fixtures"

enc <- function(x) {
  if (is.list(x)) return(lapply(x, enc))
  if (is.numeric(x) && any(is.infinite(x))) {
    y <- lapply(as.list(x), function(v) if (is.infinite(v)) ifelse(v > 0, "Inf", "-Inf") else v)
    if (length(y) == 1 && is.null(names(x))) return(y[[1]])
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
  mitml = as.character(packageVersion("mitml"))
)

completed <- function(name) {
  long <- read.csv(file.path(out_dir, name), na.strings = "")
  lapply(split(long, long$.imp), function(d) d[, setdiff(names(d), c(".imp", ".id"))])
}
nh <- completed("nhanes_completed.csv")
nh2 <- lapply(completed("nhanes2_completed.csv"), function(d) {
  d$age <- factor(d$age, levels = c("20-39", "40-59", "60-99"))
  d$hyp <- as.numeric(d$hyp == "yes")
  d
})

test_row <- function(x) {
  r <- as.numeric(x)
  list(statistic = r[1], df1 = r[2], df2 = r[3], p_value = r[4], riv = r[5])
}

# ---------------------------------------------------------------------- D4
# mitml refits each model to the stacked data with update(object, data = ...):
# the calls below are written out so that update() can re-evaluate them.
ctrl <- glm.control(epsilon = 1e-14, maxit = 100)
lm1 <- lapply(nh, function(d) lm(chl ~ age + bmi + hyp, data = d))
lm0 <- lapply(nh, function(d) lm(chl ~ age, data = d))
# (hyp ~ age + bmi + chl on nhanes2 separates: age 20-39 has no hypertension)
lg1 <- lapply(nh2, function(d) glm(hyp ~ bmi + chl, family = binomial, data = d, control = ctrl))
lg0 <- lapply(nh2, function(d) glm(hyp ~ bmi, family = binomial, data = d, control = ctrl))
nh01 <- lapply(nh, function(d) transform(d, hyp01 = hyp - 1))
lk1 <- lapply(nh01, function(d) glm(hyp01 ~ age + bmi + chl, family = binomial, data = d, control = ctrl))
lk0 <- lapply(nh01, function(d) glm(hyp01 ~ 1, family = binomial, data = d, control = ctrl))
ps1 <- lapply(nh, function(d) glm(chl ~ age + bmi, family = poisson, data = d, control = ctrl))
ps0 <- lapply(nh, function(d) glm(chl ~ age, family = poisson, data = d, control = ctrl))

d4 <- list()
for (case in list(list("lm", lm1, lm0), list("logit", lg1, lg0), list("logit_k3", lk1, lk0),
                  list("poisson", ps1, ps0))) {
  for (ariv in c("default", "robust")) {
    d4[[paste(case[[1]], ariv, sep = "_")]] <-
      test_row(testModels(case[[2]], case[[3]], method = "D4", ariv = ariv)$test)
  }
}

# ------------------------------------------------------------ testConstraints
# mitml differentiates numerically (numericDeriv, forward differences); the
# "exact" rows redo the same computation with R's symbolic deriv(), which is
# what skmipool computes, so that those can be compared to 1e-10.
exact_constraints <- function(fits, constraints, df.com = NULL) {
  Q <- sapply(fits, coef)
  U <- lapply(fits, vcov)
  nms <- gsub("\\(Intercept\\)", "Intercept", rownames(Q))
  k <- length(constraints); m <- ncol(Q)
  newQ <- matrix(NA, k, m); newU <- array(NA, c(k, k, m))
  for (i in seq_len(m)) {
    theta <- setNames(Q[, i], nms)
    G <- matrix(NA, k, length(nms))
    for (j in seq_len(k)) {
      g <- deriv(parse(text = constraints[j])[[1]], nms)
      val <- eval(g, as.list(theta))
      newQ[j, i] <- as.numeric(val)
      G[j, ] <- attr(val, "gradient")
    }
    newU[, , i] <- G %*% U[[i]] %*% t(G)
  }
  D <- mitml:::.D1(Qhat = newQ, Uhat = newU, df.com = df.com)
  list(statistic = as.numeric(D$F), df1 = D$k, df2 = D$v,
       p_value = pf(as.numeric(D$F), D$k, D$v, lower.tail = FALSE), riv = D$r)
}

constraint_cases <- list(
  lm_ratio = list(fits = lm1, r = "bmi/age - 1", py = "bmi / age = 1"),
  lm_joint = list(fits = lm1, r = c("bmi/age - 1", "hyp*bmi^2 - (Intercept)/10"),
                  py = c("bmi / age = 1", "hyp * bmi^2 = Intercept / 10")),
  logit_ratio = list(fits = lk1, r = "chl/bmi - 0.1", py = "chl / bmi = 0.1")
)
constraints <- list()
for (nm in names(constraint_cases)) {
  cc <- constraint_cases[[nm]]
  dfcom <- cc$fits[[1]]$df.residual
  constraints[[nm]] <- list(
    r = cc$r, py = cc$py, dfcom = dfcom,
    mitml_lrr = test_row(testConstraints(cc$fits, constraints = cc$r)$test),
    mitml_reiter = test_row(testConstraints(cc$fits, constraints = cc$r, df.com = dfcom)$test),
    exact_lrr = exact_constraints(cc$fits, cc$r),
    exact_reiter = exact_constraints(cc$fits, cc$r, df.com = dfcom)
  )
}

# ------------------------------------------------- Reiter (2003): pool.scalar
set.seed(20260301)
scalar_cases <- list()
for (m in c(2, 3, 5, 20)) {
  for (b_zero in c(FALSE, TRUE)) {
    Q <- if (b_zero) rep(rnorm(1, 2, 1), m) else rnorm(m, 2, runif(1, 0.05, 1))
    U <- rexp(m, 1 / runif(1, 0.05, 0.5))
    res <- pool.scalar(Q, U, rule = "reiter2003")
    scalar_cases[[length(scalar_cases) + 1]] <- list(
      m = m, b_zero = b_zero, Q = Q, U = U, qbar = res$qbar, ubar = res$ubar,
      b = res$b, t = res$t, df = res$df, riv = res$r
    )
  }
}

# ---------------------------------------------------- Reiter (2003): pool.syn
syn_table <- function(fits) {
  p <- pool.syn(as.mira(fits))
  s <- summary(p, conf.int = TRUE)
  list(term = gsub("\\(Intercept\\)", "Intercept", as.character(s$term)),
       estimate = s$estimate, std_error = s$std.error, statistic = s$statistic,
       df = s$df, p_value = s$p.value, conf_low = s[["2.5 %"]], conf_high = s[["97.5 %"]],
       ubar = p$pooled$ubar, b = p$pooled$b, t = p$pooled$t, riv = p$pooled$riv)
}
syn <- list(lm = syn_table(lm1), logit = syn_table(lk1))

# -------------------------------------------- D3 with a negative F (mice's FIXME)
# mice's tests/testthat/test-D3.R: nhanes2, m = 10, seed = 219,
# glm(hyp == "yes" ~ age + chl, binomial) against glm(hyp == "yes" ~ 1).
# mitml cannot evaluate glm likelihoods at given parameters; the formulas of
# mitml's D3 (lm branch) are written out with the binomial log-likelihood.
imp <- mice(nhanes2, print = FALSE, m = 10, seed = 219)
long <- complete(imp, "long")
write.csv(long, file.path(out_dir, "nhanes2_m10_completed.csv"), row.names = FALSE, na = "")
dl <- lapply(split(long, long$.imp), function(d) transform(d, hyp = as.numeric(hyp == "yes")))
d3_glm <- function(a1, a0) {
  ll_at <- function(f, beta) {
    p <- plogis(drop(model.matrix(f) %*% beta))
    sum(dbinom(f$y, 1, p, log = TRUE))
  }
  m <- length(a1)
  b1 <- rowMeans(sapply(a1, coef)); b0 <- rowMeans(matrix(sapply(a0, coef), nrow = length(coef(a0[[1]]))))
  k <- length(b1) - length(b0)
  dbar <- mean(sapply(seq_len(m), function(i) -2 * (as.numeric(logLik(a0[[i]])) - as.numeric(logLik(a1[[i]])))))
  dtil <- mean(sapply(seq_len(m), function(i) -2 * (ll_at(a0[[i]], b0) - ll_at(a1[[i]], b1))))
  r <- (m + 1) / (k * (m - 1)) * (dbar - dtil)
  val <- dtil / (k * (1 + r))
  t <- k * (m - 1)
  v <- if (t > 4) 4 + (t - 4) * (1 + (1 - 2 / t) / r)^2 else t * (1 + 1 / k) * (1 + 1 / r)^2 / 2
  list(statistic = val, df1 = k, df2 = v, p_value = pf(val, k, v, lower.tail = FALSE),
       riv = r, d_tilde = dtil)
}
g1 <- lapply(dl, function(d) glm(hyp ~ age + chl, family = binomial, data = d, control = ctrl))
g0 <- lapply(dl, function(d) glm(hyp ~ 1, family = binomial, data = d, control = ctrl))
d3_negative <- d3_glm(g1, g0)

write_json_fixture(
  list(versions = versions, D4 = d4, constraints = constraints,
       reiter_scalar = scalar_cases, pool_syn = syn, D3_negative = d3_negative),
  "pool_tests2.json"
)
cat("fixtures written to", out_dir, "\n")
