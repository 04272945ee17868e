# Columns classified as personal (`pii`) or health (`phi`) data are only published on
# `restricted` ports, which only their domain's owners and granted tokens read.
package tessera.sensitive_columns_restricted

sensitive := {"pii", "phi"}

violation contains msg if {
	some port in input.facts.ports
	port.access != "restricted"
	some column in port.classified
	column.classification in sensitive
	msg := sprintf("column `%s.%s` is classified %s but port `%s` is %s: make the port access = \"restricted\" or drop the column", [port.name, column.column, column.classification, port.name, port.access])
}
