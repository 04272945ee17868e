# Source-aligned products promise how fresh they are: consumers plan on it.
package tessera.source_aligned_freshness

violation contains msg if {
	input.product.kind == "source-aligned"
	input.facts.freshness_seconds == null
	msg := sprintf("%s is source-aligned but declares no freshness: add [slo] freshness = \"24h\" (or what it keeps)", [input.product.name])
}
