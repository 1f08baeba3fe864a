# R mice's exploration and simulation tools, for tests/test_explore.py and tests/test_simulate.py.
#
# Run from the repository root (about a minute):
#   Rscript tests/r/make_fixtures_explore.R
# Writes tests/fixtures/explore_r.json with, for nhanes, boys and popmis (mice 3.15's data):
#   - md.pattern(data, plot = FALSE): the pattern matrix with its margins (row names: counts);
#   - flux(data): pobs, influx, outflux, ainb, aout, fico;
#   - quickpred(data, ...) for several mincor / minpuc / include / exclude settings;
# for convergence(): the chain means and variances of mice(nhanes, m = 5, maxit = 12, seed = 1)
# and of a slowly mixing chain (two near-collinear columns), with convergence(imp) for
# parameter = "mean" and "sd" (rstan::Rhat, the rank-normalised split R-hat of Vehtari et al.
# 2021, and mice's lag-1 autocorrelation);
# for ampute(): Monte Carlo summaries over 400 seeds of four settings on the complete cases of
# boys' age, hgt, wgt, bmi, hc: the proportion of incomplete rows, each column's proportion
# missing and the mean and SD of its observed values after amputation (mean and SD over seeds).

suppressPackageStartupMessages({
  library(mice)
  library(jsonlite)
})

pattern_of <- function(data) {
  r <- md.pattern(data, plot = FALSE)
  list(
    matrix = unname(r), columns = colnames(r)[seq_len(ncol(r) - 1)],
    counts = as.integer(rownames(r)[seq_len(nrow(r) - 1)])
  )
}

flux_of <- function(data) {
  f <- flux(data)
  c(list(columns = rownames(f)), as.list(f))
}

quickpred_of <- function(data, ...) {
  list(args = list(...), matrix = unname(quickpred(data, ...)))
}

datasets <- list(nhanes = nhanes, boys = boys, popmis = popmis)
explore <- lapply(datasets, function(d) {
  list(
    md_pattern = pattern_of(d),
    flux = flux_of(d),
    quickpred = list(
      quickpred_of(d),
      quickpred_of(d, mincor = 0.3),
      quickpred_of(d, mincor = 0.05, minpuc = 0.25),
      quickpred_of(d, mincor = 0.2, include = names(d)[1], exclude = names(d)[2])
    ),
    columns = names(d)
  )
})

exact <- function(a) {
  matrix(sprintf("%.17g", a), nrow = nrow(a))
}

chains_of <- function(imp) {
  vrb <- names(which(colSums(is.na(imp$data)) > 0))
  list(
    columns = vrb,
    # [iteration, imputation] per column, as text with 17 digits: R-hat's ranks of
    # |theta - median| break ties by the last bit, and write_json keeps 15 digits
    mean = lapply(setNames(vrb, vrb), function(v) exact(imp$chainMean[v, , ])),
    var = lapply(setNames(vrb, vrb), function(v) exact(imp$chainVar[v, , ])),
    convergence_mean = subset(convergence(imp, parameter = "mean"), vrb %in% vrb),
    convergence_sd = subset(convergence(imp, parameter = "sd"), vrb %in% vrb)
  )
}
imp1 <- mice(nhanes, m = 5, maxit = 12, seed = 1, print = FALSE)
set.seed(2)
n <- 200
x <- rnorm(n)
slow <- data.frame(x = x, y = x + rnorm(n, sd = 0.05), z = rnorm(n))
slow$x[1:80] <- NA
slow$y[61:140] <- NA
imp2 <- mice(slow, m = 5, maxit = 30, seed = 3, print = FALSE, method = "norm")
convergence_fixtures <- list(nhanes = chains_of(imp1), slow = chains_of(imp2))

cols <- c("age", "hgt", "wgt", "bmi", "hc")
amp_data <- na.omit(boys[, cols])
rownames(amp_data) <- NULL
settings <- list(
  default = list(prop = 0.5),
  mar_mid_tail = list(
    prop = 0.3, patterns = rbind(c(0, 0, 1, 1, 1), c(1, 1, 0, 1, 1)), freq = c(0.7, 0.3),
    weights = rbind(c(0, 0, 1, 2, 0), c(1, 0, 0, 0, 1)), type = c("MID", "TAIL")
  ),
  mnar_left = list(prop = 0.4, mech = "MNAR", type = "LEFT"),
  mcar = list(prop = 0.6, mech = "MCAR", patterns = rbind(c(1, 0, 1, 0, 1), c(0, 1, 1, 1, 1)))
)
SEEDS <- 1:400
summaries <- lapply(settings, function(s) {
  runs <- t(sapply(SEEDS, function(seed) {
    set.seed(seed)
    a <- do.call(ampute, c(list(data = amp_data), s))$amp
    miss <- is.na(a)
    c(
      incomplete = mean(rowSums(miss) > 0),
      setNames(colMeans(miss), paste0("pmis_", cols)),
      setNames(colMeans(a, na.rm = TRUE), paste0("mean_", cols)),
      setNames(sapply(a, sd, na.rm = TRUE), paste0("sd_", cols))
    )
  }))
  list(args = s, mean = as.list(colMeans(runs)), sd = as.list(apply(runs, 2, sd)),
       n_seeds = length(SEEDS))
})

out <- list(
  mice_version = as.character(packageVersion("mice")),
  explore = explore,
  convergence = convergence_fixtures,
  ampute = list(columns = cols, n_rows = nrow(amp_data), settings = summaries)
)
write_json(out, "tests/fixtures/explore_r.json", digits = NA, auto_unbox = TRUE, pretty = FALSE,
           na = "null")
cat("wrote tests/fixtures/explore_r.json\n")
