# R `survey` reference estimates on the real ENPOVE 2018 and II ENPOVE 2022 microdata, under three designs.
#
# Writes enpove_design.json beside this script; tests/rounds/test_enpove_design_reference.py compares the package's
# estimates (built by its own pipeline) with it. CI never runs R: rerun this by hand when a design changes,
#
#     Rscript tests/reference/enpove_design/enpove_design.R [path/to/shared]
#
# (default: ../shared beside the repository) and commit the JSON. It reads INEI's raw files in place, with base R,
# `foreign` (SPSS) and `jsonlite`, independently of the package: CSV categories are written `code.label` and the
# code is what comes before the first dot; SPSS files carry bare codes.
#
# Designs (all with options(survey.lonely.psu = "adjust")):
#   enpove_2022_segment      INEI's SPSS module 100 (with SEGMENTO); responding households RESFIN in {1,2} and P15 = 1;
#                            svydesign(ids = ~psu, strata = ~stratum, weights = ~factorfinal, nest = TRUE),
#                            stratum = CIUDAD x CONO, psu = CIUDAD x CONO x SEGMENTO (SEGMENTO is numbered within
#                            city, ficha tecnica 2.9: the segment is the only sampling unit).
#   enpove_2022_conglomerado the labelled CSV module 100 (no SEGMENTO): psu = CONGLOMERADO, same strata and weight.
#   enpove_2018              complete households RESULTADO_FINAL_VIVIENDA = 1; ids = ~CONGLOMERADO,
#                            strata = ~CIUDADES_DE_ESTUDIO, weights = ~FACTOR_DE_EXPANSION (nest = TRUE; the blocks
#                            are nested in the strata, so it changes nothing).
# Each as a household design and as a person design (module 200 residents joined on the household key, carrying
# their household's stratum, PSU and weight). Domains are subset() of the full design, never rows dropped first;
# a domain also excludes rows whose variable is missing (R's na.rm), so degf(subset) counts the PSUs and strata
# where the variable was observed.

suppressPackageStartupMessages({
  library(survey)
  library(foreign)
  library(jsonlite)
})
options(survey.lonely.psu = "adjust")
LEVEL <- 0.95

script_path <- function() {
  arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(arg) != 1) stop("run with Rscript so that the script knows where it is")
  normalizePath(sub("^--file=", "", arg))
}
HERE <- dirname(script_path())
REPO <- normalizePath(file.path(HERE, "..", "..", ".."))
args <- commandArgs(trailingOnly = TRUE)
SHARED <- normalizePath(if (length(args) >= 1) args[1] else file.path(REPO, "..", "shared"), mustWork = TRUE)

D22 <- file.path(SHARED, "data", "enpove", "2022")
D22_SPSS <- file.path(SHARED, "data_spss", "enpove", "2022")
D18 <- file.path(SHARED, "data", "enpove", "2018")
INPUTS <- list()

input <- function(folder, name) {
  path <- file.path(folder, name)
  if (!file.exists(path)) stop(path, " is missing")
  INPUTS[[length(INPUTS) + 1]] <<- list(
    file = sub(paste0("^", SHARED, "/"), "", path), bytes = file.size(path), md5 = unname(tools::md5sum(path))
  )
  path
}

read_csv_inei <- function(path) {
  read.csv(path, colClasses = "character", fileEncoding = "UTF-8-BOM", check.names = FALSE)
}

read_sav <- function(path) {
  # The file's declared code page is used (windows-1252 or UTF-8); bare codes, no value labels applied.
  suppressWarnings(read.spss(path, to.data.frame = TRUE, use.value.labels = FALSE))
}

# INEI's category: "2.Mujer" (labelled CSV) or 2 (SPSS) -> "2"; blank -> NA.
code <- function(x) {
  x <- trimws(as.character(x))
  x[x == ""] <- NA
  sub("\\..*$", "", x)
}

# A key column as INEI writes it, whatever the format: trimmed text ("48856  " -> "48856"), numbers without
# leading zeros ("011" and 11 -> "11") for the columns that are counters.
id_text <- function(x) trimws(as.character(x))
id_num <- function(x) as.character(as.integer(trimws(as.character(x))))

# ------------------------------------------------------------------ estimation helpers

describe <- function(design) {
  list(
    rows = nrow(design),
    psus = length(unique(design$cluster[, 1])),
    strata = length(unique(design$strata[, 1])),
    degf = degf(design),
    lonely_strata = sum(design$fpc$sampsize[!duplicated(design$strata[, 1]), 1] == 1)
  )
}

# One estimate of the mean of `y` (a column of design$variables) in `domain` (a logical, no NA), with rows whose
# y is NA left out of the domain (na.rm). Proportions also get svyciprop's logit interval.
estimate <- function(design, name, y, domain, domain_text, kind, meaning) {
  values <- design$variables[[y]]
  inside <- domain & !is.na(values)
  sub <- subset(design, inside)
  m <- svymean(as.formula(paste0("~", y)), sub)
  est <- as.numeric(coef(m))
  se <- as.numeric(SE(m))
  df <- degf(sub)
  q <- qt(1 - (1 - LEVEL) / 2, df)
  out <- list(
    name = name, kind = kind, meaning = meaning, variable = y, domain = domain_text,
    n = sum(inside), weighted_n = sum(weights(sub)),
    psus = length(unique(sub$cluster[, 1])), strata = length(unique(sub$strata[, 1])),
    estimate = est, se = se, degf = df, ci_t = c(est - q * se, est + q * se)
  )
  if (kind == "proportion") {
    ci <- svyciprop(as.formula(paste0("~", y)), sub, method = "logit", level = LEVEL)
    out$ci_logit <- unname(as.numeric(attr(ci, "ci")))
  }
  out
}

# A within-round contrast between two domains of one design, with their covariance: svyby(covmat = TRUE) then
# svycontrast, on subset(design, domain & !is.na(y)) (the package's universe and na.rm), focal minus reference.
contrast_domains <- function(design, name, y, domain, by, focal, reference, meaning) {
  values <- design$variables[[y]]
  sub <- subset(design, domain & !is.na(values))
  b <- svyby(as.formula(paste0("~", y)), as.formula(paste0("~", by)), sub, svymean, covmat = TRUE)
  levels <- as.character(b[[by]])
  weights <- ifelse(levels == focal, 1, ifelse(levels == reference, -1, 0))
  con <- svycontrast(b, weights)
  V <- vcov(b)
  est <- as.numeric(coef(con))
  se <- as.numeric(SE(con))
  df <- degf(sub)
  q <- qt(1 - (1 - LEVEL) / 2, df)
  list(
    name = name, kind = "within_round", meaning = meaning, variable = y, by = by, focal = focal,
    reference = reference, estimate_focal = as.numeric(coef(b)[levels == focal]),
    se_focal = as.numeric(SE(b)[levels == focal]), estimate_reference = as.numeric(coef(b)[levels == reference]),
    se_reference = as.numeric(SE(b)[levels == reference]),
    covariance = V[levels == focal, levels == reference], estimate = est, se = se, degf = df,
    ci_t = c(est - q * se, est + q * se), p_t = 2 * pt(-abs(est / se), df)
  )
}

# Two rounds are independent samples: the difference of their estimates (each from estimate() above) has
# variance se_a^2 + se_b^2; the package's reference distribution is t with Welch-Satterthwaite df from the
# two designs' degf.
across_rounds <- function(name, a, b, meaning) {
  d <- b$estimate - a$estimate
  se <- sqrt(a$se^2 + b$se^2)
  df <- (a$se^2 + b$se^2)^2 / (a$se^4 / a$degf + b$se^4 / b$degf)
  q <- qt(1 - (1 - LEVEL) / 2, df)
  list(name = name, kind = "across_rounds", meaning = meaning, estimate_a = a$estimate, estimate_b = b$estimate,
       estimate = d, se = se, welch_df = df, ci_t = c(d - q * se, d + q * se), p_t = 2 * pt(-abs(d / se), df))
}

person_frame <- function(households, persons, hh_key) {
  design_cols <- c(hh_key, "stratum", "psu", "weight")
  merged <- merge(persons, households[, design_cols], by = hh_key, all.x = FALSE, sort = FALSE)
  if (nrow(merged) != nrow(persons)) stop("persons without a household: ", nrow(persons) - nrow(merged))
  merged
}

make_design <- function(frame) {
  svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, nest = TRUE, data = frame)
}

household_size <- function(households, persons, hh_key) {
  hkey <- do.call(paste, c(households[hh_key], sep = "-"))
  pkey <- do.call(paste, c(persons[hh_key], sep = "-"))
  counts <- table(pkey)
  size <- as.integer(counts[hkey])
  size[is.na(size)] <- 0L
  size
}

# ------------------------------------------------------------------ II ENPOVE 2022

HH22 <- c("CONGLOMERADO", "VIVIENDA", "NHOGAR")
PK22 <- c(HH22, "P200_N")

keys22 <- function(frame, cols) {
  frame$CONGLOMERADO <- id_text(frame$CONGLOMERADO)
  for (k in setdiff(cols, "CONGLOMERADO")) frame[[k]] <- id_num(frame[[k]])
  frame
}

persons22 <- keys22(read_csv_inei(input(D22, "Características de los residentes del hogar.csv")), PK22)
m700_22 <- keys22(read_csv_inei(input(D22, "ENPOVE2022_V_700 Discriminación.csv")), PK22)

designs22 <- function(raw100, psu_of, label) {
  hh <- keys22(raw100, HH22)
  hh <- hh[code(hh$RESFIN) %in% c("1", "2") & code(hh$P15) %in% "1", ]
  if (nrow(hh) != 3739) stop(label, ": ", nrow(hh), " responding households, expected 3739")
  city <- trimws(as.character(hh$CIUDAD))
  zone <- code(hh$CONO)
  zone[is.na(zone)] <- ""
  hh$stratum <- paste(city, zone, sep = "|")
  hh$psu <- psu_of(hh, city, zone)
  hh$weight <- as.numeric(hh$factorfinal)
  hh$internet <- as.numeric(code(hh$P108_4) == "1")
  hh$rented <- as.numeric(code(hh$P107) == "1")
  hh$hh_size <- household_size(hh, persons22, HH22)

  p <- person_frame(hh, persons22, HH22)
  p$migrant <- code(p$P208) == "1"
  p$woman <- as.numeric(code(p$P204) == "2")
  pkey <- do.call(paste, c(p[PK22], sep = "-"))
  key700 <- do.call(paste, c(m700_22[PK22], sep = "-"))
  if (anyDuplicated(key700) || !all(key700 %in% pkey)) stop("module 700 rows do not match residents one to one")
  p$in_700 <- pkey %in% key700
  p$discriminated <- as.numeric(code(m700_22$P701)[match(pkey, key700)] == "1")

  dh <- make_design(hh)
  dp <- make_design(p)
  all_hh <- rep(TRUE, nrow(hh))
  list(
    household = c(describe(dh), list(estimates = list(
      estimate(dh, "internet", "internet", all_hh, "responding households", "proportion",
               "P108_4 = 1: the household has internet access"),
      estimate(dh, "rented", "rented", all_hh, "responding households", "proportion",
               "P107 = 1: the dwelling is rented"),
      estimate(dh, "hh_size", "hh_size", all_hh, "responding households", "mean",
               "residents per household (rows of module 200)")
    ))),
    person = c(describe(dp), list(estimates = list(
      estimate(dp, "women", "woman", p$migrant, "migrants (P208 = 1)", "proportion", "P204 = 2: women"),
      estimate(dp, "women_non_migrants", "woman", !p$migrant, "residents who are not migrants (P208 = 2)",
               "proportion", "P204 = 2: women; a domain that misses PSUs, so its degf is below the design's"),
      estimate(dp, "discriminated", "discriminated", p$migrant & p$in_700,
               "migrants with a row in module 700 (aged 5+) and an answer to P701", "proportion",
               "P701 = 1: has felt discriminated against since arriving in Peru")
    ), contrasts = list(
      contrast_domains(dp, "discriminated_women_vs_men", "discriminated", p$migrant & p$in_700, "woman", "1", "0",
                       "P701 = 1 among migrants with a row in module 700: women (P204 = 2) minus men")
    )))
  )
}

spss100 <- read_sav(input(D22_SPSS, "ENPOVE2022_V_100 Características de la vivienda y del hogar.sav"))
segment <- designs22(spss100, function(hh, city, zone) paste(city, zone, trimws(hh$SEGMENTO), sep = "|"), "segment")

csv100 <- read_csv_inei(input(D22, "Características de la vivienda y del hogar.csv"))
if ("SEGMENTO" %in% names(csv100)) stop("the labelled CSV module 100 was expected without SEGMENTO")
conglomerado <- designs22(csv100, function(hh, city, zone) hh$CONGLOMERADO, "conglomerado")

# ------------------------------------------------------------------ ENPOVE 2018

HH18 <- c("CONGLOMERADO", "VIVIENDA", "HOGAR")
PK18 <- c(HH18, "CODPERSO")

keys18 <- function(frame, cols) {
  for (k in cols) frame[[k]] <- id_text(frame[[k]])
  frame
}

hh18 <- keys18(read_sav(input(D18, "ENPOVE_Capitulo 100 - Carctaerísticas de la Vivienda y del Hogar.sav.sav")), HH18)
p18 <- keys18(read_sav(input(D18, "ENPOVE_Capitulo 200 - Carctaerísticas de los Residentes del Hogar.sav.sav")), PK18)
c400 <- keys18(read_sav(input(D18, "ENPOVE_Capitulo 400 - Salud.sav.sav")), PK18)
c700 <- keys18(read_sav(input(D18, "ENPOVE_Capitulo 700 - Discriminación.sav.sav")), PK18)

hh18 <- hh18[code(hh18$RESULTADO_FINAL_VIVIENDA) %in% "1", ]
if (nrow(hh18) != 3697) stop("2018: ", nrow(hh18), " complete households, expected 3697")
hh18$stratum <- code(hh18$CIUDADES_DE_ESTUDIO)
hh18$psu <- hh18$CONGLOMERADO
hh18$weight <- as.numeric(hh18$FACTOR_DE_EXPANSION)
hh18$rented <- as.numeric(code(hh18$P108) == "1")
hh18$electricity <- as.numeric(code(hh18$P109) == "1")
hh18$hh_size <- household_size(hh18, p18, HH18)

pp18 <- person_frame(hh18, p18, HH18)
pp18$migrant <- code(pp18$P207) == "1"
pp18$woman <- as.numeric(code(pp18$P204) == "2")
pkey18 <- do.call(paste, c(pp18[PK18], sep = "-"))
in_chapter <- function(chapter, var) {
  key <- do.call(paste, c(chapter[PK18], sep = "-"))
  if (anyDuplicated(key) || !all(key %in% pkey18)) stop("chapter rows do not match residents one to one")
  list(inside = pkey18 %in% key, yes = as.numeric(code(chapter[[var]])[match(pkey18, key)] == "1"))
}
h400 <- in_chapter(c400, "P401_5")
h700 <- in_chapter(c700, "P701")
pp18$in_400 <- h400$inside
pp18$no_insurance <- h400$yes
pp18$in_700 <- h700$inside
pp18$discriminated <- h700$yes

dh18 <- make_design(hh18)
dp18 <- make_design(pp18)
all18 <- rep(TRUE, nrow(hh18))
y2018 <- list(
  household = c(describe(dh18), list(estimates = list(
    estimate(dh18, "rented", "rented", all18, "complete households", "proportion", "P108 = 1: the dwelling is rented"),
    estimate(dh18, "electricity", "electricity", all18, "complete households", "proportion",
             "P109 = 1: lit by electricity"),
    estimate(dh18, "hh_size", "hh_size", all18, "complete households", "mean",
             "residents per household (rows of chapter 200)")
  ))),
  person = c(describe(dp18), list(estimates = list(
    estimate(dp18, "women", "woman", pp18$migrant, "migrants (P207 = 1)", "proportion", "P204 = 2: women"),
    estimate(dp18, "women_non_migrants", "woman", !pp18$migrant, "residents who are not migrants (P207 = 2)",
             "proportion", "P204 = 2: women; a domain that misses PSUs, so its degf is below the design's"),
    estimate(dp18, "no_health_insurance", "no_insurance", pp18$migrant & pp18$in_400,
             "migrants with a row in chapter 400", "proportion", "P401_5 = 1: not affiliated to any health insurance"),
    estimate(dp18, "discriminated", "discriminated", pp18$migrant & pp18$in_700,
             "migrants with a row in chapter 700 (aged 5+)", "proportion",
             "P701 = 1: has felt discriminated against since arriving in Peru")
  ), contrasts = list(
    contrast_domains(dp18, "discriminated_women_vs_men", "discriminated", pp18$migrant & pp18$in_700, "woman", "1",
                     "0", "P701 = 1 among migrants with a row in chapter 700: women (P204 = 2) minus men")
  )))
)

# ------------------------------------------------------------------ 2018 -> 2022, independent samples

by_name <- function(estimates, name) estimates[[which(vapply(estimates, function(e) e$name, "") == name)]]
across <- list(
  across_rounds("rented",
                by_name(y2018$household$estimates, "rented"), by_name(conglomerado$household$estimates, "rented"),
                "rented dwelling, 2022 (CONGLOMERADO design, as `surveys refresh --raw ../shared/data` stores it) minus 2018"),
  across_rounds("discriminated",
                by_name(y2018$person$estimates, "discriminated"),
                by_name(conglomerado$person$estimates, "discriminated"),
                "felt discriminated since arrival, 2022 (CONGLOMERADO design) minus 2018")
)

# ------------------------------------------------------------------ write

out <- list(
  generated_by = "tests/reference/enpove_design/enpove_design.R",
  generated_at = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
  r_version = R.version.string,
  survey_version = as.character(packageVersion("survey")),
  foreign_version = as.character(packageVersion("foreign")),
  jsonlite_version = as.character(packageVersion("jsonlite")),
  options = list(survey.lonely.psu = getOption("survey.lonely.psu")),
  level = LEVEL,
  conventions = paste(
    "estimate and se from svymean on subset(design, domain & !is.na(y)); degf = degf() of that subset (PSUs minus",
    "strata with a case); ci_t = estimate -/+ qt(1 - (1 - level)/2, degf) * se; ci_logit = svyciprop(method = 'logit'),",
    "which also uses t with degf(subset); n = rows in the domain, weighted_n = their summed weight.",
    "rows/psus/strata/degf/lonely_strata of the whole (household or person) design."
  ),
  inputs = INPUTS,
  across_rounds = across,
  designs = list(
    enpove_2022_segment = c(list(
      round = "2022",
      household_module = "data_spss/enpove/2022 module 100 (SPSS, with SEGMENTO)",
      call = "svydesign(ids = ~psu, strata = ~stratum, weights = ~factorfinal, nest = TRUE)",
      stratum = "CIUDAD x CONO", psu = "CIUDAD x CONO x SEGMENTO", weight = "factorfinal",
      universe = "RESFIN in {1, 2} and P15 = 1"
    ), segment),
    enpove_2022_conglomerado = c(list(
      round = "2022",
      household_module = "data/enpove/2022 module 100 (labelled CSV, no SEGMENTO)",
      call = "svydesign(ids = ~psu, strata = ~stratum, weights = ~factorfinal, nest = TRUE)",
      stratum = "CIUDAD x CONO", psu = "CONGLOMERADO", weight = "factorfinal",
      universe = "RESFIN in {1, 2} and P15 = 1"
    ), conglomerado),
    enpove_2018 = c(list(
      round = "2018",
      household_module = "data/enpove/2018 chapter 100 (SPSS)",
      call = "svydesign(ids = ~CONGLOMERADO, strata = ~CIUDADES_DE_ESTUDIO, weights = ~FACTOR_DE_EXPANSION, nest = TRUE)",
      stratum = "CIUDADES_DE_ESTUDIO", psu = "CONGLOMERADO", weight = "FACTOR_DE_EXPANSION",
      universe = "RESULTADO_FINAL_VIVIENDA = 1"
    ), y2018)
  )
)

target <- file.path(HERE, "enpove_design.json")
write_json(out, target, auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote", target, "\n")
