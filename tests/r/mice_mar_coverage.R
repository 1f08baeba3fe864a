# R mice on the datasets of the MAR coverage simulation, for the slow ChainedImputer tests.
#
# Run from the repository root (about 10 minutes on 2 cores; midastouch takes 7):
#   python tests/r/write_mar_datasets.py /tmp/skmipool_mar.csv
#   Rscript tests/r/mice_mar_coverage.R /tmp/skmipool_mar.csv
# Writes tests/fixtures/mice_mar_coverage.json: for mice's norm, pmm and midastouch (M = 5,
# maxit = 10, seed rep + 1), the coverage of the 95% interval of the x1 slope of lm(y ~ x1 + x2)
# (truth 0.5), its bias, mean SE, SD of the estimates and mean between-imputation
# variance B over the 500 replications, each replication's estimate and SE (for paired
# comparisons), and checksums of the data read.

suppressPackageStartupMessages({
  library(mice)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
path <- if (length(args)) args[1] else "/tmp/skmipool_mar.csv"
d <- read.csv(path)
reps <- sort(unique(d$rep))

one_rep <- function(df, method, seed) {
  imp <- mice(df, m = 5, method = method, maxit = 10, seed = seed, printFlag = FALSE)
  fit <- with(imp, lm(y ~ x1 + x2))
  s <- summary(pool(fit), conf.int = TRUE)
  row <- s[s$term == "x1", ]
  slopes <- sapply(fit$analyses, function(f) coef(f)[["x1"]])
  c(estimate = row$estimate, se = row$std.error,
    covered = as.numeric(row[["2.5 %"]] <= 0.5 && 0.5 <= row[["97.5 %"]]),
    B = var(slopes))
}

summarise <- function(method) {
  res <- t(sapply(reps, function(r) {
    one_rep(d[d$rep == r, c("x1", "x2", "y")], method, seed = r + 1)
  }))
  list(
    estimates = unname(res[, "estimate"]),
    std_errors = unname(res[, "se"]),
    coverage = mean(res[, "covered"]),
    bias = mean(res[, "estimate"]) - 0.5,
    mean_se = mean(res[, "se"]),
    sd_estimate = sd(res[, "estimate"]),
    se_sd = mean(res[, "se"]) / sd(res[, "estimate"]),
    mean_B = mean(res[, "B"])
  )
}

out <- list(
  design = paste("mar_data(200, default_rng(2026)) of tests/mar_simulation.py, 500 reps;",
                 "mice(m = 5, maxit = 10, seed = rep + 1); x1 slope of lm(y ~ x1 + x2)"),
  m = 5,
  maxit = 10,
  versions = list(R = R.version.string, mice = as.character(packageVersion("mice"))),
  data = list(reps = length(reps), rows = nrow(d), sum_y = sum(d$y),
              sum_x1_observed = sum(d$x1, na.rm = TRUE), missing_x1 = sum(is.na(d$x1))),
  norm = summarise("norm"),
  pmm = summarise("pmm"),
  midastouch = summarise("midastouch")
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/fixtures/mice_mar_coverage.json")
print(lapply(out[c("norm", "pmm", "midastouch")], function(r) r[!names(r) %in% c("estimates", "std_errors")]))
