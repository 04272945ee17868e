# Every product names an owner and says what it is, so a consumer knows whom to ask.
package tessera.owner_and_description

violation contains msg if {
	trim_space(input.proposed.product.owner) == ""
	msg := sprintf("%s names no owner: set product.owner in product.toml to the team that answers for it", [input.product.name])
}

violation contains msg if {
	trim_space(input.proposed.product.description) == ""
	msg := sprintf("%s has no description: set product.description in product.toml to what it provides", [input.product.name])
}
