# Every output port is guarded by at least one check of severity `error`, so bad data is
# quarantined instead of published.
package tessera.error_check_per_port

violation contains msg if {
	some port in input.facts.ports
	port.error_checks == 0
	msg := sprintf("output port `%s` of %s has no `error` check: add one under checks (not_null, unique, range, ...) so bad data cannot publish", [port.name, input.product.name])
}
