//! `hello`: the smallest complete data product. It reads `people` and writes one greeting
//! per person to `greetings`, in the person's language when it knows it.

use tessera_sdk::{Batch, Context, Result};

/// The greeting for `name` in `language` (English when unknown or missing).
pub fn greeting(name: &str, language: Option<&str>) -> String {
    match language {
        Some("fr") => format!("Bonjour, {name} !"),
        Some("de") => format!("Hallo, {name}!"),
        Some("es") => format!("¡Hola, {name}!"),
        _ => format!("Hello, {name}!"),
    }
}

#[tessera_sdk::product]
fn run(ctx: &mut Context) -> Result<()> {
    let mut out = ctx.output("greetings")?;
    let mut total = 0;
    for batch in ctx.input("people")?.batches(4096) {
        let batch = batch?;
        let names = batch.text("name")?;
        let languages = batch.text("language")?;
        let mut greeted = Vec::with_capacity(batch.num_rows());
        let mut greetings = Vec::with_capacity(batch.num_rows());
        for (name, language) in names.iter().zip(languages.iter()) {
            let name = name.unwrap_or_default();
            greetings.push(greeting(name, language));
            greeted.push(name);
        }
        total += greetings.len();
        out.write(
            Batch::builder()
                .text("name", greeted)
                .text("greeting", greetings)
                .build()?,
        )?;
    }
    tessera_sdk::info!("greeted {total} people");
    ctx.gauge("people_greeted", total as f64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_sdk::testing::TestRun;

    #[test]
    fn greets_in_the_known_language_and_falls_back_to_english() {
        assert_eq!(greeting("Ada", Some("fr")), "Bonjour, Ada !");
        assert_eq!(greeting("Ada", None), "Hello, Ada!");
        assert_eq!(greeting("Ada", Some("xx")), "Hello, Ada!");
    }

    #[test]
    fn run_writes_one_greeting_per_person() {
        let people = Batch::builder()
            .text("name", ["Ada", "Grace"])
            .text_opt("language", [Some("de"), None])
            .build()
            .unwrap();
        let mut test = TestRun::for_product(include_str!("../product.toml"))
            .unwrap()
            .input("people", people);
        test.run(run).unwrap();
        let out = test.output("greetings").unwrap();
        assert_eq!(
            out.text("greeting")
                .unwrap()
                .iter()
                .flatten()
                .collect::<Vec<_>>(),
            ["Hallo, Ada!", "Hello, Grace!"]
        );
        assert_eq!(test.gauge("people_greeted"), Some(2.0));
    }
}
