# Reference values for skmipool.models (tests/test_models.py and
# notebooks/cox_pooling.ipynb), from R mice 3.15, survival and sandwich.
#
# Run from the repository root, after tests/r/make_fixtures.R:
#   apt-get install -y r-base-core r-cran-mice r-cran-survival r-cran-sandwich r-cran-jsonlite
#   Rscript tests/r/make_fixtures_models.R
# It reads the completed datasets written by make_fixtures.R
# (tests/fixtures/*_completed.csv, mice's complete(imp, "long")) and writes
# tests/fixtures/models_r.json. CI only reads that file; it does not need R.

suppressPackageStartupMessages({
  library(mice)
  library(survival)
  library(sandwich)
  library(jsonlite)
})

out_dir <- "tests/fixtures"
data_dir <- "skmipool/datasets/data"

# JSON cannot hold Inf: write it as the string "Inf" (the tests parse it back).
enc <- function(x) {
  if (is.list(x)) return(lapply(x, enc))
  if (is.numeric(x) && length(x) == 1 && is.null(names(x)) && is.infinite(x)) {
    return(ifelse(x > 0, "Inf", "-Inf"))
  }
  x
}

versions <- list(
  R = R.version.string,
  mice = as.character(packageVersion("mice")),
  survival = as.character(packageVersion("survival")),
  sandwich = as.character(packageVersion("sandwich"))
)

# A mids object from the completed datasets of make_fixtures.R, so that the
# analyses here run on exactly the data the Python tests read.
as_mids_from_fixture <- function(completed_csv, original) {
  long <- read.csv(file.path(out_dir, completed_csv), check.names = FALSE,
                   stringsAsFactors = FALSE)
  for (col in names(original)) {
    if (is.factor(original[[col]])) {
      long[[col]] <- factor(long[[col]], levels = levels(original[[col]]))
    }
  }
  orig <- cbind(.imp = 0, .id = seq_len(nrow(original)), original)
  as.mids(rbind(orig, long[, names(orig)]))
}

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
    out <- list(
      coef = unname(coef(f)), names = names(coef(f)),
      vcov = unname(as.matrix(vcov(f))),
      loglik = as.numeric(logLik(f)), n = as.integer(nobs(f))
    )
    if (!is.null(f$df.residual)) out$df_residual <- f$df.residual
    if (inherits(f, "coxph")) {
      out$n <- f$n
      out$nevent <- f$nevent
      out$naive_vcov <- if (is.null(f$naive.var)) out$vcov else unname(f$naive.var)
    }
    out
  })
}

# mice's pool with its default dfcom (coxph: nevent - p; lm/glm: df.residual),
# and with dfcom = 100, Inf, and the nonsense dfcom = 1 and 0.5.
pooled_variants <- function(fit) {
  list(
    auto = tidy_pool(fit), dfcom_100 = tidy_pool(fit, dfcom = 100),
    dfcom_inf = tidy_pool(fit, dfcom = Inf), dfcom_1 = tidy_pool(fit, dfcom = 1),
    dfcom_0.5 = tidy_pool(fit, dfcom = 0.5)
  )
}

ctrl <- glm.control(epsilon = 1e-14, maxit = 100)
# glm computes vcov from the IRLS weights of its last-but-one iterate; refitting
# from the converged estimate makes the weights (and so vcov) those of the MLE.
glm_tight <- function(formula, family, data) {
  f <- glm(formula, family = family, data = data, control = ctrl)
  glm(formula, family = family, data = data, control = ctrl, start = coef(f))
}

# ------------------------------------------------------------------ stanford2
stanford2 <- read.csv(file.path(data_dir, "stanford2.csv"), na.strings = "")
stanford2$cid <- round(stanford2$id / 10) + 1  # the cluster id of the question
imp_st <- as_mids_from_fixture("stanford2_completed.csv", stanford2)
# old: a fully observed stratum variable for the stratified model
imp_st_old <- imp_st
long_old <- complete(imp_st, "long", include = TRUE)
long_old$old <- as.integer(long_old$age >= 45)
imp_st_old <- as.mids(long_old)

cox <- list(
  cox = with(imp_st, coxph(Surv(time, status) ~ age + t5, ties = "efron")),
  cox_cluster = with(imp_st, coxph(Surv(time, status) ~ age + t5 + cluster(cid),
                                   ties = "efron")),
  cox_null_cluster = with(imp_st, coxph(Surv(time, status) ~ age + cluster(cid),
                                        ties = "efron")),
  cox_breslow_cluster = with(imp_st, coxph(Surv(time, status) ~ age + t5 + cluster(cid),
                                           ties = "breslow")),
  cox_robust = with(imp_st, coxph(Surv(time, status) ~ age + t5, ties = "efron",
                                  robust = TRUE)),
  cox_strata_cluster = with(imp_st_old, coxph(Surv(time, status) ~ age + t5 + strata(old) +
                                                cluster(cid), ties = "efron"))
)
models <- lapply(cox, function(fit) list(fits = per_fit(fit), pooled = pooled_variants(fit)))

# Harrell's C of the first completed dataset's fit, on the data it was fitted to
models$cox$concordance <- unname(cox$cox$analyses[[1]]$concordance["concordance"])

test_row <- function(x) {
  r <- as.numeric(x)
  list(statistic = r[1], df1 = r[2], df2 = r[3], p_value = r[4], riv = r[5])
}
tests <- list(
  cox_D1 = test_row(D1(cox$cox_cluster, cox$cox_null_cluster)$result),
  cox_D2_likelihood = test_row(
    D2(cox$cox_cluster, cox$cox_null_cluster, use = "likelihood")$result
  )
)

# ------------------------------------------------- nhanes2: categorical terms
nhanes2 <- read.csv(file.path(data_dir, "nhanes2.csv"), na.strings = "")
nhanes2$age <- factor(nhanes2$age, levels = c("20-39", "40-59", "60-99"))
nhanes2$hyp <- factor(nhanes2$hyp, levels = c("no", "yes"))
imp_nh2 <- as_mids_from_fixture("nhanes2_completed.csv", nhanes2)
glm_fits <- list(
  lm_factor = with(imp_nh2, lm(chl ~ age + bmi)),
  logit = with(imp_nh2, glm_tight(hyp ~ bmi + chl, binomial, data.frame(hyp, bmi, chl))),
  poisson_factor = with(imp_nh2, glm_tight(chl ~ age + bmi, poisson,
                                           data.frame(chl, age, bmi)))
)
for (name in names(glm_fits)) {
  models[[name]] <- list(fits = per_fit(glm_fits[[name]]),
                         pooled = pooled_variants(glm_fits[[name]]))
}

# ------------------------------------- robust covariances on one completed set
# stanford2, first completed dataset: sandwich's HC0-HC3 and clustered (by cid)
# covariances of lm(log(time) ~ age + t5) and of glm(status ~ age + t5, binomial).
st1 <- complete(imp_st, 1)
ols <- lm(log(time) ~ age + t5, data = st1)
logit <- glm_tight(status ~ age + t5, binomial, st1)
robust <- list(
  ols = list(
    coef = unname(coef(ols)), nonrobust = unname(vcov(ols)),
    HC0 = unname(vcovHC(ols, type = "HC0")), HC1 = unname(vcovHC(ols, type = "HC1")),
    HC2 = unname(vcovHC(ols, type = "HC2")), HC3 = unname(vcovHC(ols, type = "HC3")),
    # vcovCL's default for lm: type "HC1", G / (G - 1) * (n - 1) / (n - k)
    cluster = unname(vcovCL(ols, cluster = st1$cid, type = "HC1"))
  ),
  logit = list(
    coef = unname(coef(logit)), nonrobust = unname(vcov(logit)),
    HC0 = unname(vcovHC(logit, type = "HC0")),
    cluster = unname(vcovCL(logit, cluster = st1$cid, type = "HC1")),
    loglik = as.numeric(logLik(logit))
  )
)

write_json <- function(obj, name) {
  writeLines(toJSON(enc(obj), digits = NA, auto_unbox = TRUE, pretty = TRUE),
             file.path(out_dir, name))
}
write_json(list(versions = versions, models = models, tests = tests, robust = robust),
           "models_r.json")
cat("fixtures written to", file.path(out_dir, "models_r.json"), "\n")
