# Products tagged `clinical` keep every published version for at least 30 days, so a
# finding can be traced back to the data it came from.
package tessera.clinical_retention

min_days := 30

violation contains msg if {
	"clinical" in input.product.tags
	days := input.facts.retention.max_age_days
	days != null
	days < min_days
	msg := sprintf("%s is tagged clinical but keeps versions %v days (retention.max_age): clinical products keep at least %d days", [input.product.name, days, min_days])
}

violation contains msg if {
	"clinical" in input.product.tags
	input.facts.retention.keep_versions != null
	msg := sprintf("%s is tagged clinical but bounds retention by count (retention.keep_versions = %d), which can drop a version younger than %d days: keep by max_age instead", [input.product.name, input.facts.retention.keep_versions, min_days])
}
