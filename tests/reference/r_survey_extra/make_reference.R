# Regenerates the R `survey` reference values of tests/estimation/test_r_extra.py:
#
#   cd tests/reference/r_survey_extra && Rscript make_reference.R
#
# writes, in this folder:
#   expected.json         named cases on R's `api` data (read from ../shared/reference/r-survey, as
#                         the Python tests read it) and on the data of R survey's tests/lonely.psu.R
#   random_designs.csv    a fixed set of random stratified cluster samples (set.seed below)
#   random_expected.json  R's totals and means on them, whole sample and by domain, for every
#                         lonely-PSU rule
#
# CI does not run R: the outputs are committed. Every value is what the installed R `survey`
# computes (its version is recorded in each file); the Python side must match it to 1e-6 relative
# and `df` exactly. Intervals of contrasts are `confint(..., df=)` with the design df given in the
# case (the engine uses Student t with that df everywhere); R's default would be the Normal.

suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})

here <- getwd()
shared <- normalizePath(file.path(here, "..", "..", "..", "..", "shared", "reference", "r-survey"))
read_api <- function(name) read.csv(file.path(shared, paste0(name, ".csv")))
apiclus1 <- read_api("apiclus1")
apistrat <- read_api("apistrat")
version <- as.character(packageVersion("survey"))

cases <- list()
add <- function(case, design, statistic, call, est, se, ...) {
  extra <- list(...)
  rec <- c(list(case = case, design = design, statistic = statistic, call = call,
                estimate = unname(as.numeric(est)), se = unname(as.numeric(se))), extra)
  cases[[length(cases) + 1]] <<- rec
}
t_ci <- function(stat, df) unname(confint(stat, df = df)[1, ])

options(survey.lonely.psu = "fail")

# ---------------------------------------------------------------- designs with strata and PSUs
# ENPOVE's shape: strata, and PSUs (districts) nested in them; no fpc (with replacement).
dsc <- svydesign(id = ~dnum, strata = ~stype, weights = ~pw, data = apistrat, nest = TRUE)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
designs <- list(dstratclus = dsc, dclus1 = dclus1)

for (dn in names(designs)) {
  d <- designs[[dn]]
  m <- svymean(~api00, d, deff = TRUE)
  add("mean_api00", dn, "mean", "svymean(~api00, d, deff=TRUE)", coef(m), SE(m),
      deff = unname(deff(m)), df = degf(d), ci_low = t_ci(m, degf(d))[1], ci_high = t_ci(m, degf(d))[2])
  tt <- svytotal(~enroll, d, deff = TRUE, na.rm = TRUE)
  add("total_enroll", dn, "total", "svytotal(~enroll, d, deff=TRUE, na.rm=TRUE)", coef(tt), SE(tt),
      deff = unname(deff(tt)), df = degf(d))
  r <- svyratio(~api.stu, ~enroll, d)
  add("ratio_apistu_enroll", dn, "ratio", "svyratio(~api.stu, ~enroll, d)", coef(r), SE(r))
  p <- svyciprop(~I(sch.wide == "No"), d, method = "logit")
  add("ciprop_schwide_no_logit", dn, "proportion", "svyciprop(~I(sch.wide==\"No\"), d, method=\"logit\")",
      coef(p), SE(p), ci_low = unname(confint(p)[1]), ci_high = unname(confint(p)[2]), df = degf(d))
  for (lev in c("E", "H", "M")) {
    sub <- subset(d, stype == lev)
    tb <- svytotal(~enroll, sub, deff = TRUE)
    add(paste0("total_enroll_by_stype_", lev), dn, "domain_total",
        "svyby(~enroll, ~stype, d, svytotal, deff=TRUE)", coef(tb), SE(tb),
        deff = unname(deff(tb)), df = degf(sub), domain = lev)
  }

  # contrasts between domains: svyby(covmat=TRUE) then svycontrast; df of the two domains together
  b <- svyby(~api00, ~stype, d, svymean, covmat = TRUE)
  for (pair in list(c("E", "H"), c("H", "M"), c("E", "M"))) {
    k <- setNames(c(1, -1), pair)
    con <- svycontrast(b, k)
    dfc <- degf(subset(d, stype %in% pair))
    ci <- t_ci(con, dfc)
    add(paste0("contrast_mean_api00_", pair[1], "_minus_", pair[2]), dn, "contrast_domains",
        sprintf("svycontrast(svyby(~api00, ~stype, d, svymean, covmat=TRUE), c(%s=1, %s=-1))", pair[1], pair[2]),
        coef(con), SE(con), df = dfc, ci_low = ci[1], ci_high = ci[2],
        variable = "api00", a = pair[1], b = pair[2])
  }
  bp <- svyby(~as.numeric(sch.wide == "No"), ~stype, d, svymean, covmat = TRUE)
  con <- svycontrast(bp, c(E = 1, M = -1))
  dfc <- degf(subset(d, stype %in% c("E", "M")))
  ci <- t_ci(con, dfc)
  add("contrast_prop_schwide_no_E_minus_M", dn, "contrast_domains_proportion",
      "svycontrast(svyby(~as.numeric(sch.wide==\"No\"), ~stype, d, svymean, covmat=TRUE), c(E=1, M=-1))",
      coef(con), SE(con), df = dfc, ci_low = ci[1], ci_high = ci[2], variable = "sch_wide_no", a = "E", b = "M")
  bt <- svyby(~enroll, ~stype, d, svytotal, covmat = TRUE)
  con <- svycontrast(bt, c(E = 1, H = -1))
  dfc <- degf(subset(d, stype %in% c("E", "H")))
  add("contrast_total_enroll_E_minus_H", dn, "contrast_domains_total",
      "svycontrast(svyby(~enroll, ~stype, d, svytotal, covmat=TRUE), c(E=1, H=-1))",
      coef(con), SE(con), df = dfc, variable = "enroll", a = "E", b = "H")

  # contrast of two variables measured on the same units (whole sample, then within a domain)
  mm <- svymean(~api00 + api99, d)
  con <- svycontrast(mm, c(api00 = 1, api99 = -1))
  ci <- t_ci(con, degf(d))
  add("contrast_mean_api00_minus_api99", dn, "contrast_variables",
      "svycontrast(svymean(~api00+api99, d), c(api00=1, api99=-1))",
      coef(con), SE(con), df = degf(d), ci_low = ci[1], ci_high = ci[2], a = "api00", b = "api99")
  bv <- svyby(~api00 + api99, ~stype, d, svymean, covmat = TRUE)
  con <- svycontrast(bv, c("E:api00" = 1, "E:api99" = -1))
  dfc <- degf(subset(d, stype == "E"))
  add("contrast_mean_api00_minus_api99_in_E", dn, "contrast_variables_domain",
      "svycontrast(svyby(~api00+api99, ~stype, d, svymean, covmat=TRUE), c(\"E:api00\"=1, \"E:api99\"=-1))",
      coef(con), SE(con), df = dfc, a = "api00", b = "api99", domain = "E")

  # two variables with different missing values: each mean keeps its own cases (na.rm=TRUE one by
  # one), i.e. the ratios sum(w y 1[y observed]) / sum(w 1[y observed]) with their joint covariance
  dd <- update(d, ya = ifelse(is.na(acs.k3), 0, acs.k3), oka = as.numeric(!is.na(acs.k3)),
               yb = ifelse(is.na(acs.46), 0, acs.46), okb = as.numeric(!is.na(acs.46)))
  r <- svyratio(~ya + yb, ~oka + okb, dd, covmat = TRUE)
  con <- svycontrast(r, c("ya/oka" = 1, "yb/okb" = -1))
  dfc <- degf(subset(d, !is.na(acs.k3) | !is.na(acs.46)))
  ci <- t_ci(con, dfc)
  add("contrast_mean_acsk3_minus_acs46_missing", dn, "contrast_variables",
      "svycontrast(svyratio(~ya+yb, ~oka+okb, d, covmat=TRUE), c(\"ya/oka\"=1, \"yb/okb\"=-1)), y = acs.k3, acs.46 with NA as 0, ok = observed",
      coef(con), SE(con), df = dfc, ci_low = ci[1], ci_high = ci[2], a = "acs.k3", b = "acs.46")

  # quantiles: svyquantile defaults (qrule="math", Woodruff interval on the mean scale, df=degf)
  for (q in c(0.25, 0.5, 0.9)) {
    sq <- svyquantile(~enroll, d, quantiles = q, ci = TRUE, na.rm = TRUE)
    add(sprintf("quantile_enroll_%g", q), dn, "quantile",
        sprintf("svyquantile(~enroll, d, quantiles=%g, ci=TRUE, na.rm=TRUE)", q),
        coef(sq), SE(sq), ci_low = unname(confint(sq)[1]), ci_high = unname(confint(sq)[2]),
        df = degf(d), q = q)
  }
  for (lev in c("E", "H", "M")) {
    sub <- subset(d, stype == lev)
    sq <- svyquantile(~api00, sub, quantiles = 0.5, ci = TRUE)
    add(paste0("median_api00_by_stype_", lev), dn, "domain_quantile",
        "svyby(~api00, ~stype, d, svyquantile, quantiles=0.5, ci=TRUE)",
        coef(sq), SE(sq), ci_low = unname(confint(sq)[1]), ci_high = unname(confint(sq)[2]),
        df = degf(sub), q = 0.5, domain = lev)
  }
}

# ---------------------------------------------------------------- lonely PSUs: totals
# apiclus1 with districts as strata (R's tests/lonely.psu.R design); totals are where the rules differ.
for (rule in c("adjust", "remove", "average")) {
  options(survey.lonely.psu = rule)
  dl <- svydesign(id = ~1, weights = ~pw, strata = ~dnum, data = apiclus1)
  tt <- svytotal(~enroll, dl)
  add(paste0("total_enroll_lonely_", rule), "lonely", "total",
      "svytotal(~enroll, svydesign(id=~1, weights=~pw, strata=~dnum, data=apiclus1))",
      coef(tt), SE(tt), lonely = rule)
  for (lev in c("E", "H", "M")) {
    tb <- svytotal(~enroll, subset(dl, stype == lev))
    add(paste0("total_enroll_by_stype_", lev, "_lonely_", rule), "lonely", "domain_total",
        "svyby(~enroll, ~stype, dl, svytotal)", coef(tb), SE(tb), lonely = rule, domain = lev)
  }
  # a contrast's covariance is built on the whole design (svyby covmat=TRUE), lonely strata included
  for (stat in c("mean", "total")) {
    FUN <- if (stat == "mean") svymean else svytotal
    bl <- svyby(~enroll, ~stype, dl, FUN, covmat = TRUE)
    con <- svycontrast(bl, c(E = 1, H = -1))
    add(paste0("contrast_", stat, "_enroll_E_minus_H_lonely_", rule), "lonely",
        if (stat == "mean") "contrast_domains" else "contrast_domains_total",
        sprintf("svycontrast(svyby(~enroll, ~stype, dl, svy%s, covmat=TRUE), c(E=1, H=-1))", stat),
        coef(con), SE(con), df = degf(subset(dl, stype %in% c("E", "H"))), lonely = rule,
        variable = "enroll", a = "E", b = "H")
  }
  # R survey's own tests/lonely.psu.R, "checks for svytotal()"
  df_w_singleton <- data.frame(
    Stratum = c(1, 1, 2, 2, 3), PSU = c(1, 2, 3, 4, 5),
    Design_Weight = c(10.5, 10.5, 20, 20, 15), Sex = c("M", "F", "F", "M", "M"),
    Age = c(30.5, 40.5, 35, 52, 44), Height = c(6.2, 5.0, 5.3, 5.7, 5.5)
  )
  ds <- svydesign(data = df_w_singleton, ids = ~PSU, strata = ~Stratum, weights = ~Design_Weight)
  tt <- svytotal(~Age, ds)
  add(paste0("total_age_lonely_psu_R_", rule), "lonely_psu_R", "total",
      "svytotal(~Age, svydesign(ids=~PSU, strata=~Stratum, weights=~Design_Weight, data=df_w_singleton))",
      coef(tt), SE(tt), lonely = rule, variance = unname(as.numeric(vcov(tt))))
  tb <- svytotal(~Age, subset(ds, Sex == "M"))
  add(paste0("total_age_by_sex_M_lonely_psu_R_", rule), "lonely_psu_R", "domain_total",
      "svyby(~Age, ~Sex, ds, svytotal)", coef(tb), SE(tb), lonely = rule, domain = "M")
}
options(survey.lonely.psu = "fail")

# qrule="math" at its edges: a heavy smallest value (R returns the second smallest when its weight
# share exceeds p, including p = 0), exact ties of the cumulative share (equal weights)
tiny <- data.frame(x = c(3, 1, 2, 5, 4, 2), w = c(1, 10, 1, 1, 1, 2), u = 1)
dt <- svydesign(ids = ~1, weights = ~w, data = tiny)
du <- svydesign(ids = ~1, weights = ~u, data = tiny)
for (q in c(0, 0.25, 0.5, 0.75, 1)) {
  for (dn in c("tiny_w", "tiny_equal")) {
    d <- if (dn == "tiny_w") dt else du
    sq <- svyquantile(~x, d, quantiles = q, ci = TRUE)
    add(sprintf("quantile_x_%g", q), dn, "quantile", sprintf("svyquantile(~x, d, quantiles=%g, ci=TRUE)", q),
        coef(sq), SE(sq), ci_low = unname(confint(sq)[1]), ci_high = unname(confint(sq)[2]),
        df = degf(d), q = q)
  }
}

writeLines(toJSON(list(r_survey = version, cases = cases), digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "expected.json")

# ---------------------------------------------------------------- random designs
# A fixed set of stratified cluster samples in the shape of test_vs_svy.py's generator:
# strata with 1-4 PSUs (at least one stratum with a single PSU), PSUs of 1-6 rows, weights over three
# orders of magnitude, 15 % missing y, a domain inside one PSU, and a first-stage fpc on half of them.
set.seed(20261201)
n_designs <- 40
rows <- list()
for (g in seq_len(n_designs)) {
  n_strata <- sample(2:5, 1)
  psus <- sample(1:4, n_strata, replace = TRUE)
  if (!any(psus == 1)) psus[1] <- 1
  if (all(psus == 1)) psus[n_strata] <- 2
  psu_id <- 0
  parts <- list()
  for (h in seq_len(n_strata)) {
    pop <- psus[h] + sample(0:19, 1)
    for (i in seq_len(psus[h])) {
      psu_id <- psu_id + 1
      size <- sample(1:6, 1)
      shift <- rnorm(1, 0, 3)
      parts[[length(parts) + 1]] <- data.frame(design = g, stratum = paste0("s", h), psu = psu_id,
                                               fpc = pop, shift = shift, k = seq_len(size))
    }
  }
  f <- do.call(rbind, parts)
  n <- nrow(f)
  f$w <- exp(runif(n, 0, log(1000)))
  f$y <- 10 + f$shift + rnorm(n, 0, 2)
  f$y[runif(n) < 0.15] <- NA
  f$dom <- sample(c("a", "b"), n, replace = TRUE)
  f$dom[f$psu == sample(unique(f$psu), 1)] <- "solo"
  f$use_fpc <- g %% 2 == 0
  rows[[g]] <- f[, c("design", "stratum", "psu", "fpc", "use_fpc", "w", "y", "dom")]
}
random <- do.call(rbind, rows)
write.csv(random, "random_designs.csv", row.names = FALSE, na = "")

results <- list()
for (g in seq_len(n_designs)) {
  f <- random[random$design == g, ]
  for (rule in c("adjust", "remove", "average")) {
    options(survey.lonely.psu = rule)
    d <- if (f$use_fpc[1]) {
      svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = f)
    } else {
      svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = f)
    }
    doms <- c(NA, sort(unique(f$dom[!is.na(f$y)])))
    for (dom in doms) {
      sub <- if (is.na(dom)) d else d[f$dom == dom, ]
      keep <- sub[!is.na(sub$variables$y), ]
      for (stat in c("total", "mean")) {
        e <- if (stat == "total") svytotal(~y, sub, na.rm = TRUE) else svymean(~y, sub, na.rm = TRUE)
        results[[length(results) + 1]] <- list(
          design = g, lonely = rule, statistic = stat, domain = if (is.na(dom)) "(all)" else dom,
          estimate = unname(as.numeric(coef(e))), se = unname(as.numeric(SE(e))), df = degf(keep)
        )
      }
    }
  }
}
options(survey.lonely.psu = "fail")
writeLines(toJSON(list(r_survey = version, seed = 20261201, results = results),
                  digits = NA, auto_unbox = TRUE, pretty = FALSE),
           "random_expected.json")
