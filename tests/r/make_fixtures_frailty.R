# Reference values for shared-frailty Cox models (tests/test_frailty.py and
# notebooks/cox_pooling.ipynb), from R's survival (coxph + frailty()) and mice.
#
# Run from the repository root, after tests/r/make_fixtures.R (which wrote
# tests/fixtures/stanford2_completed.csv):
#   apt-get install -y r-base-core r-cran-survival r-cran-mice r-cran-jsonlite
#   Rscript tests/r/make_fixtures_frailty.R
# It writes tests/fixtures/frailty_r.json and exports two data sets of the R
# package survival, tests/fixtures/rats.csv (survival::rats) and
# tests/fixtures/kidney.csv (survival::kidney). CI only reads those files.
#
# For each data set and frailty distribution it records
#   - the default fit, coxph(... + frailty(g, distribution = d)): the frailty
#     variance (the last row of fit$history[[1]]$history, the variance the final
#     coefficients were fitted at; it is what print() shows), the outer-loop
#     history, coefficients, var (se(coef) = sqrt(diag(var))), var2, loglik,
#     iterations, the effective df of each term;
#   - a fit at that variance held fixed, frailty(g, distribution = d, theta =),
#     with tight inner-loop tolerances, so that the inner (penalized Newton)
#     loop can be tested to 1e-6 apart from the outer loop's tolerance.

suppressPackageStartupMessages({
  library(survival)
  library(mice)
  library(jsonlite)
})

out_dir <- "tests/fixtures"
stopifnot(dir.exists(out_dir))

versions <- list(
  R = R.version.string,
  survival = as.character(packageVersion("survival")),
  mice = as.character(packageVersion("mice"))
)

write.csv(rats, file.path(out_dir, "rats.csv"), row.names = FALSE)
write.csv(kidney, file.path(out_dir, "kidney.csv"), row.names = FALSE)

# stanford2 complete cases with the cluster id of the well-known question.
# R's round() rounds half to even (IEC 60559), as numpy does: round(6.5) = 6.
stanford <- read.csv("skmipool/datasets/data/stanford2.csv")
stanford <- stanford[complete.cases(stanford), ]
stanford$cid <- round(stanford$id / 10) + 1
stopifnot(round(6.5) == 6, round(7.5) == 8)

tight <- coxph.control(eps = 1e-12, toler.chol = 1e-14, iter.max = 200)

one_fit <- function(fit) {
  h <- fit$history[[1]]
  hist <- h$history
  out <- list(
    coef = unname(coef(fit)), names = names(coef(fit)),
    se = unname(sqrt(diag(fit$var))),
    var = unname(as.matrix(fit$var)), var2 = unname(as.matrix(fit$var2)),
    loglik = unname(fit$loglik), iter = unname(fit$iter),
    df = unname(fit$df), frail = unname(fit$frail), fvar = unname(fit$fvar),
    n = fit$n, nevent = fit$nevent
  )
  if (!is.null(hist)) {
    hist <- as.matrix(hist)
    out$history <- unname(hist)
    out$history_columns <- colnames(hist)
    out$theta <- unname(hist[nrow(hist), 1])
    out$theta_next <- unname(h$theta)
  } else {
    out$theta <- unname(h$theta)
  }
  out
}

cases <- list(
  stanford2 = list(data = stanford, formula = "Surv(time, status) ~ age + t5",
                   group = "cid"),
  rats = list(data = rats, formula = "Surv(time, status) ~ rx", group = "litter"),
  kidney = list(data = kidney, formula = "Surv(time, status) ~ age + sex", group = "id"),
  # four clusters: R's frailty() is then not sparse (a dense penalized factor)
  kidney_disease = list(data = kidney, formula = "Surv(time, status) ~ age + sex",
                        group = "disease")
)

fits <- list()
for (name in names(cases)) {
  case <- cases[[name]]
  for (dist in c("gamma", "gaussian")) {
    f <- as.formula(sprintf("%s + frailty(%s, distribution = '%s')",
                            case$formula, case$group, dist))
    fit <- withCallingHandlers(
      coxph(f, data = case$data),
      warning = function(w) {
        message(name, " ", dist, ": ", conditionMessage(w))
        invokeRestart("muffleWarning")
      }
    )
    default <- one_fit(fit)
    theta <- default$theta
    f_fixed <- as.formula(sprintf(
      "%s + frailty(%s, distribution = '%s', theta = %.17g)",
      case$formula, case$group, dist, theta))
    fixed <- one_fit(coxph(f_fixed, data = case$data, control = tight))
    fits[[paste(name, dist, sep = "_")]] <- list(
      data = name, distribution = dist, group = case$group,
      formula = case$formula, default = default, fixed = fixed
    )
  }
}

# Pooling: the Gaussian frailty model on the M = 5 datasets that mice completed
# (make_fixtures.R), pooled by mice with dfcom = events - p (mice's own choice
# for coxph) and with dfcom = 1 (the floor that gave df = 0.5 in the question).
long <- read.csv(file.path(out_dir, "stanford2_completed.csv"), check.names = FALSE)
orig <- read.csv("skmipool/datasets/data/stanford2.csv")
orig$cid <- round(orig$id / 10) + 1
orig <- cbind(.imp = 0, .id = seq_len(nrow(orig)), orig)
imp <- as.mids(rbind(orig, long[, names(orig)]))
mi_fit <- with(imp, coxph(Surv(time, status) ~ age + t5 +
                            frailty(cid, distribution = "gaussian")))
tidy_pool <- function(dfcom) {
  p <- pool(mi_fit, dfcom = dfcom)
  keep <- !is.na(p$pooled$estimate)
  s <- summary(p, conf.int = TRUE)[keep, ]
  pooled <- p$pooled[keep, ]
  list(
    term = as.character(s$term), estimate = s$estimate, std_error = s$std.error,
    df = s$df, p_value = s$p.value, conf_low = s[["2.5 %"]], conf_high = s[["97.5 %"]],
    riv = pooled$riv, lambda = pooled$lambda, fmi = pooled$fmi,
    ubar = pooled$ubar, b = pooled$b, t = pooled$t, dfcom = pooled$dfcom[1]
  )
}
pooling <- list(
  model = "coxph(Surv(time, status) ~ age + t5 + frailty(cid, distribution = 'gaussian'))",
  fits = lapply(mi_fit$analyses, one_fit),
  auto = tidy_pool(NULL),
  dfcom_1 = tidy_pool(1)
)

write_json(
  list(versions = versions, fits = fits, pooling = pooling),
  file.path(out_dir, "frailty_r.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE
)
cat("wrote", file.path(out_dir, "frailty_r.json"), "\n")
