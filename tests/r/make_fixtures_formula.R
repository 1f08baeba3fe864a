# Reference values for skmipool's formula grammar (tests/test_formula.py), from R's
# stats::terms.formula and stats::model.matrix.
#
# Run from the repository root:
#   apt-get install -y r-base-core r-cran-jsonlite
#   Rscript tests/r/make_fixtures_formula.R
# It writes tests/fixtures/formula_r.json. CI only reads that file; it does not need R.

suppressPackageStartupMessages(library(jsonlite))

# The term algebra: labels in R's order and the intercept flag.
formulas <- c(
  "y ~ a*b", "y ~ a*b - a:b", "y ~ b:a + a", "y ~ a + b:a", "y ~ (a + b + c)^2",
  "y ~ (a + b + c)^3 - a:b:c", "y ~ a/b", "y ~ (a + b)/c", "y ~ a/(b + c)", "y ~ a/b/c",
  "y ~ a*b*c - a", "y ~ a:b:c + c:a + b", "y ~ a + b - 1", "y ~ -1 + a", "y ~ 0 + a",
  "y ~ a + 0 + 1", "y ~ a - a", "y ~ (a + b) * (c + d)", "y ~ (a + b):(c + d)",
  "y ~ a*(b + c) - b", "y ~ (a*b)^2", "y ~ a:a", "y ~ a*a", "y ~ a - - 1",
  "y ~ -(a + b) + c", "y ~ I(a^2) + a:I(a^2)", "y ~ log(a) * b", "y ~ a + (b + c) - (b)",
  "y ~ (a/b)^2", "y ~ c:(a + b) + a", "y ~ a^2", "y ~ 1", "y ~ 0", "y ~ a + 1 - 1",
  "y ~ (a + b)^2 - 1 + 1", "y ~ a*b + b*c - 0", "y ~ d:(a + b)^2 + c",
  "y ~ sqrt(a) + exp(b):a", "y ~ (a + b + c + d)^4 - (a + b)^2"
)
terms_out <- lapply(formulas, function(f) {
  t <- terms(as.formula(f))
  list(formula = f, labels = I(attr(t, "term.labels")), intercept = attr(t, "intercept") == 1)
})

# The coding: R's contrast rule (a factor gets contrasts when the term without it is
# already in the model) on a small frame with two text columns and two numbers.
data <- data.frame(
  f = rep(c("a", "b", "c"), length.out = 12),
  g = rep(c("u", "v"), each = 6),
  x = (1:12) / 4,
  z = c(2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37),
  stringsAsFactors = TRUE
)
data$y <- 1
rhs <- c(
  "f", "x + f", "0 + f", "0 + x + f + g", "f:g", "x + f:g", "f:x", "x:f + f", "f*g",
  "f/x", "x/f", "f:g + f", "0 + f:g", "x:z + f:z", "(f + g + x)^2", "f:g:x + g",
  "scale(x) + poly(z, 2) + log(z):f + I(x^2) + sqrt(z) + exp(x / 4) + log1p(z)",
  "poly(x, 3):g + scale(z)"
)
matrices <- lapply(rhs, function(r) {
  m <- model.matrix(as.formula(paste("y ~", r)), data)
  list(rhs = r, columns = I(colnames(m)), values = unname(m))
})

out <- list(
  versions = list(R = R.version.string),
  terms = terms_out,
  data = as.list(transform(data, f = as.character(f), g = as.character(g))),
  model_matrix = matrices
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/fixtures/formula_r.json")
