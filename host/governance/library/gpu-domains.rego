# GPUs are shared and scarce: only the domains the federation chose may ask for one.
package tessera.gpu_domains

allowed := {"imaging", "ml-platform"}

violation contains msg if {
	input.facts.gpu != "none"
	not input.product.domain in allowed
	msg := sprintf("%s asks for a GPU (gpu = \"%s\") but domain `%s` is not among the domains allowed GPUs (%s): set gpu = \"none\" or ask the federation", [input.product.name, input.facts.gpu, input.product.domain, concat(", ", sort([d | some d in allowed]))])
}
