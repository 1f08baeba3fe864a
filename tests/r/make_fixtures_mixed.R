# Reference values for skmipool.models.MixedLM and the pooling of mixed models
# (tests/test_mixed.py), from R lme4 and mitml.
#
# Run from the repository root:
#   Rscript tests/r/make_fixtures_mixed.R
# It imputes skmipool's copy of mice's popmis (skmipool/datasets/data/popmis.csv)
# with mice (pmm, m = 5, seed 20240), writes the completed data sets to
# tests/fixtures/popmis_completed.csv (mice's complete(imp, "long"): columns .imp
# and .id first), fits lmer on each, pools with mitml::testEstimates(...,
# extra.pars = TRUE) and writes tests/fixtures/mixed_r.json. CI only reads the
# two files; it does not need R.
#
# The complete-data df is skmipool's rule for mixed models: the number of
# clusters minus the number of fixed effects (G - p = 100 - 3 = 97 here), passed
# to testEstimates as df.com; the large-sample pooling (mitml's default,
# df.com = NULL) is written too.

suppressPackageStartupMessages({
  library(mice)
  library(lme4)
  library(mitml)
  library(jsonlite)
})

out_dir <- "tests/fixtures"
data_dir <- "skmipool/datasets/data"

versions <- list(
  R = R.version.string,
  mice = as.character(packageVersion("mice")),
  lme4 = as.character(packageVersion("lme4")),
  mitml = as.character(packageVersion("mitml"))
)

popmis <- read.csv(file.path(data_dir, "popmis.csv"), na.strings = "")
imp <- mice(popmis, m = 5, method = "pmm", seed = 20240, printFlag = FALSE)
long <- complete(imp, "long")
write.csv(long, file.path(out_dir, "popmis_completed.csv"), row.names = FALSE, na = "")
# read the data back, so that the fits below use exactly the digits Python reads
long <- read.csv(file.path(out_dir, "popmis_completed.csv"))
completed <- split(long, long$.imp)

# A tight optimizer: the default nloptwrap (BOBYQA) stops at ftol_abs = 1e-6 on
# the deviance, which moves the variance components in the 5th digit.
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12, xtol_rel = 1e-12,
                 maxeval = 1e5),
  calc.derivs = FALSE
)

# lme4's variance components under mitml's names (mitml:::.getMisc.merMod):
# "Intercept~~Intercept|school", "Intercept~~sex|school", "sex~~sex|school",
# "Residual~~Residual", "ICC|school".
per_fit <- function(fits) {
  unname(lapply(fits, function(f) {
    vc <- mitml:::.getMisc(f)
    list(
      fixef = unname(fixef(f)), names = names(fixef(f)),
      vcov = unname(as.matrix(vcov(f))),
      variance_components = as.list(vc),
      loglik = as.numeric(logLik(f)), reml = isREML(f), nobs = nobs(f)
    )
  }))
}

pooled <- function(fits, df.com) {
  te <- testEstimates(fits, extra.pars = TRUE, df.com = df.com)
  est <- te$estimates
  list(
    term = rownames(est),
    estimate = unname(est[, "Estimate"]), std_error = unname(est[, "Std.Error"]),
    statistic = unname(est[, "t.value"]), df = unname(est[, "df"]),
    p_value = unname(est[, "P(>|t|)"]), riv = unname(est[, "RIV"]),
    fmi = unname(est[, "FMI"]),
    extra_pars = as.list(setNames(te$extra.pars[, "Estimate"], rownames(te$extra.pars))),
    df_com = if (is.null(df.com)) "Inf" else df.com
  )
}

formulas <- list(
  intercept = popular ~ sex + texp + (1 | school),
  slope = popular ~ sex + texp + (1 + sex | school)
)
models <- list()
for (name in names(formulas)) {
  fits <- lapply(completed, function(d) lmer(formulas[[name]], data = d, REML = TRUE,
                                             control = ctrl))
  n_groups <- length(unique(completed[[1]]$school))
  dfcom <- n_groups - length(fixef(fits[[1]]))  # skmipool's rule: G - p
  models[[name]] <- list(
    formula = deparse(formulas[[name]]), dfcom = dfcom, n_groups = n_groups,
    fits = per_fit(fits),
    pooled = pooled(fits, dfcom), pooled_large_sample = pooled(fits, NULL)
  )
}
# the random-intercept model by maximum likelihood (REML = FALSE), per fit only
ml <- lapply(completed, function(d) lmer(formulas$intercept, data = d, REML = FALSE,
                                         control = ctrl))
models$intercept_ml <- list(formula = deparse(formulas$intercept), fits = per_fit(ml))

writeLines(
  toJSON(list(versions = versions, m = length(completed), models = models),
         digits = NA, auto_unbox = TRUE, pretty = TRUE),
  file.path(out_dir, "mixed_r.json")
)
cat("fixtures written to", file.path(out_dir, "mixed_r.json"), "\n")
