/*
 * Experiment reports: one result (analyse/experiment.h) printed as a text table, as JSON, or as
 * a self-contained HTML page (inline CSS and SVG, nothing fetched). The three say the same
 * things: the same numbers, the same warnings (ft_report_warnings).
 *
 * The JSON document, for tools (docs/analysis.md has an example):
 *   flag, flag_type, arm_by ("value" | "enabled"), method, alpha, control,
 *   window {since, until} (ISO-8601 or null), exposures {first, last, units, quarantined},
 *   arms [{arm, units, observed_share, expected_share}],
 *   srm {statistic, df, p_value, mismatch} or {error},
 *   metrics [{event, type, events,
 *             arms [{arm, n, mean, variance, warnings [..]}],
 *             comparisons [{arm, frequentist {absolute, relative}, bayesian {absolute, relative},
 *                           sequential {absolute, relative}} or {arm, error}]}],
 *   exposures_by_day [{day, arm, units}], warnings [..]
 * where a frequentist side is {estimate, std_error, statistic, df, p_value, ci_low, ci_high},
 * a bayesian one {mean, std_dev, chance_to_beat, risk_control, risk_treatment, ci_low,
 * ci_high}, a sequential one {estimate, std_error, p_value, ci_low, ci_high}; the chosen
 * method's sides (frequentist or sequential) add p_value_holm. A relative side is null when
 * the control mean is 0. Numbers print with 17 significant digits; a non-finite one is null.
 */
#ifndef FT_ANALYSE_REPORT_H
#define FT_ANALYSE_REPORT_H

#include "analyse/experiment.h"

#include <stdio.h>

void ft_report_text(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r);
void ft_report_json(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r);
void ft_report_html(FILE *f, const struct ft_experiment_query *q,
                    const struct ft_experiment_result *r);

/* The report's warnings, each a sentence; free with ft_report_warnings_free. */
char **ft_report_warnings(const struct ft_experiment_query *q,
                          const struct ft_experiment_result *r, size_t *n);
void ft_report_warnings_free(char **w, size_t n);

const char *ft_report_method_name(enum ft_experiment_method m);

#define FT_REPORT_LEVEL_SIZE 24
/* The intervals' confidence level for `alpha` as a percentage ("95%", "97.5%", "99.9%"),
 * written to `buf` and returned. */
const char *ft_report_level(double alpha, char buf[FT_REPORT_LEVEL_SIZE]);
/* Warning bits (FT_STATS_WARN_*) as short names: "few_units", ... */
const char *ft_report_warning_name(unsigned bit);

#endif
