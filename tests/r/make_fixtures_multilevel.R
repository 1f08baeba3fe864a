# R mice's multilevel imputation of popmis, for the slow tests of tests/test_multilevel.py.
#
# Run from the repository root (about 12 minutes on one core: 2l.norm's Gibbs sampler loops
# over the schools in R, 100 iterations per call):
#   Rscript tests/r/make_fixtures_multilevel.R
# Writes tests/fixtures/multilevel_r.json. For seeds 1..20, mice (M = 5, maxit = 10) imputes
# popular by
#   - 2l.norm: mice's documented predictor matrix for popmis (van Buuren & Groothuis-Oudshoorn
#     2011, section 3.3), school -2 (the cluster), sex 2 (random slope), texp 1 (2l.norm ignores
#     fixed-only predictors, see its help page), const left out (collinear with the intercept
#     that 2l.norm adds); heterogeneous within-school variances (Kasim & Raudenbush 1998);
#   - 2l.pan: school -2, sex and texp 1 (fixed), a random intercept, one residual variance;
#   - pmm: single level, popular ~ sex + texp + teachpop (school and pupil not predictors).
# Each completed dataset is analysed by lmer(popular ~ sex + texp + (1 | school), REML);
# the fixed effects are pooled by Rubin's rules (estimate, SE = sqrt(T), lambda =
# (1 + 1/M) B / T, and fmi with dfcom = 100 schools - 3 fixed effects = 97, Barnard & Rubin
# 1999, as mice's pool) and the ICC = tau^2 / (tau^2 + sigma^2) is averaged over the
# imputations (mitml's extra.pars).

suppressPackageStartupMessages({
  library(mice)
  library(lme4)
  library(pan)
  library(jsonlite)
})

DFCOM <- 97
SEEDS <- 1:20

predictors <- function(row) {
  pred <- make.predictorMatrix(popmis)
  pred[, ] <- 0
  pred["popular", ] <- row # columns: pupil school popular sex texp const teachpop
  pred
}
SETUPS <- list(
  "2l.norm" = list(pred = predictors(c(0, -2, 0, 2, 1, 0, 0)), method = "2l.norm"),
  "2l.pan" = list(pred = predictors(c(0, -2, 0, 1, 1, 0, 0)), method = "2l.pan"),
  "pmm" = list(pred = predictors(c(0, 0, 0, 1, 1, 0, 1)), method = "pmm")
)

pool_fixed <- function(est, var) {
  m <- nrow(est)
  qbar <- colMeans(est)
  ubar <- colMeans(var)
  b <- apply(est, 2, stats::var)
  t <- ubar + (1 + 1 / m) * b
  lambda <- (1 + 1 / m) * b / t
  # Barnard & Rubin (1999) df, as mice's pool
  dfold <- (m - 1) / lambda^2
  dfobs <- (DFCOM + 1) / (DFCOM + 3) * DFCOM * (1 - lambda)
  df <- dfold * dfobs / (dfold + dfobs)
  riv <- (1 + 1 / m) * b / ubar
  fmi <- (riv + 2 / (df + 3)) / (1 + riv)
  list(estimate = unname(qbar), se = unname(sqrt(t)), lambda = unname(lambda),
       fmi = unname(fmi), terms = names(qbar))
}

analyse <- function(imp) {
  fits <- lapply(seq_len(imp$m), function(i) {
    lmer(popular ~ sex + texp + (1 | school), data = complete(imp, i), REML = TRUE)
  })
  est <- t(sapply(fits, fixef))
  var <- t(sapply(fits, function(f) diag(as.matrix(vcov(f)))))
  tau2 <- sapply(fits, function(f) as.numeric(VarCorr(f)$school))
  sigma2 <- sapply(fits, function(f) sigma(f)^2)
  out <- pool_fixed(est, var)
  out$icc <- mean(tau2 / (tau2 + sigma2))
  out$tau2 <- mean(tau2)
  out$sigma2 <- mean(sigma2)
  out
}

results <- list()
for (name in names(SETUPS)) {
  s <- SETUPS[[name]]
  meth <- setNames(rep("", ncol(popmis)), names(popmis))
  meth["popular"] <- s$method
  per_seed <- lapply(SEEDS, function(seed) {
    imp <- mice(popmis, m = 5, maxit = 10, predictorMatrix = s$pred, method = meth,
                seed = seed, printFlag = FALSE)
    c(list(seed = seed), analyse(imp))
  })
  results[[name]] <- per_seed
  message(name, " done")
}

out <- list(
  mice_version = as.character(packageVersion("mice")),
  pan_version = as.character(packageVersion("pan")),
  lme4_version = as.character(packageVersion("lme4")),
  m = 5, maxit = 10, dfcom = DFCOM,
  analysis = "lmer(popular ~ sex + texp + (1 | school), REML = TRUE)",
  results = results
)
write_json(out, "tests/fixtures/multilevel_r.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
