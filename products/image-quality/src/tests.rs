use tessera_demo_data::images::{Defect, synthetic};
use tessera_sdk::testing::TestRun;

use super::*;

fn shipped() -> Thresholds {
    let mut t = None;
    TestRun::new()
        .parameters_from_manifest(include_str!("../product.toml"))
        .unwrap()
        .run(|ctx| {
            t = Some(Thresholds::read(ctx)?);
            Ok(())
        })
        .unwrap();
    t.unwrap()
}

#[test]
fn sums_of_a_small_image_are_exact() {
    // 3 × 3 with a bright centre: one interior pixel.
    let pixels = [0, 0, 0, 0, 255, 0, 0, 0, 0];
    let s = sums_cpu(ImageRef {
        width: 3,
        height: 3,
        pixels: &pixels,
    });
    assert_eq!(
        s,
        [255.0, 65025.0, 1.0, -1020.0, 1_040_400.0, 1020.0, 1.0, 9.0]
    );
    let q = Quality::from_sums(&s);
    assert!((q.brightness - 255.0 / 9.0).abs() < 1e-12);
    assert_eq!(q.sharpness, 0.0); // one interior pixel: no variance
    assert!((q.saturated - 1.0 / 9.0).abs() < 1e-12);
}

/// Precision and recall of each flag on the planted defects of the demo's synthetic images.
pub(crate) fn precision_recall(count: usize) -> Vec<(Defect, f64, f64)> {
    let images = synthetic(count, 20_260_301);
    let t = shipped();
    let flagged: Vec<Vec<&str>> = images
        .iter()
        .map(|i| {
            let q = Quality::from_sums(&sums_cpu(ImageRef {
                width: i.width,
                height: i.height,
                pixels: &i.pixels,
            }));
            flags(&q, i.width, i.height, &t)
                .into_iter()
                .map(|f| f.0)
                .collect()
        })
        .collect();
    Defect::ALL
        .iter()
        .map(|&d| {
            let planted = images.iter().filter(|i| i.planted == Some(d)).count();
            let raised = flagged.iter().filter(|f| f.contains(&d.flag())).count();
            let right = images
                .iter()
                .zip(&flagged)
                .filter(|(i, f)| i.planted == Some(d) && f.contains(&d.flag()))
                .count();
            (
                d,
                right as f64 / raised.max(1) as f64,
                right as f64 / planted.max(1) as f64,
            )
        })
        .collect()
}

#[test]
fn flags_find_the_planted_defects() {
    let figures = precision_recall(tessera_demo_data::SYNTHETIC_IMAGES);
    for (defect, precision, recall) in &figures {
        eprintln!(
            "{:<13} precision {precision:.3} recall {recall:.3}",
            defect.flag()
        );
        assert!(
            *precision >= 0.9 && *recall >= 0.9,
            "{defect:?}: {precision} {recall}"
        );
    }
}

#[test]
fn clean_images_carry_no_flag() {
    let t = shipped();
    for image in synthetic(40, 1).iter().filter(|i| i.planted.is_none()) {
        let q = Quality::from_sums(&sums_cpu(ImageRef {
            width: image.width,
            height: image.height,
            pixels: &image.pixels,
        }));
        assert!(
            flags(&q, image.width, image.height, &t).is_empty(),
            "{}: {q:?}",
            image.id
        );
    }
}

#[test]
fn corrupt_images_are_reported_and_block_publication() {
    let good = synthetic(1, 5).remove(0);
    let input = Batch::builder()
        .text("image_id", ["ok", "short"])
        .text("source", ["test", "test"])
        .i64("width", [good.width as i64, 8])
        .i64("height", [good.height as i64, 8])
        .binary("pixels", [good.pixels.as_slice(), &[1, 2, 3]])
        .build()
        .unwrap();
    let mut test = TestRun::for_product(include_str!("../product.toml"))
        .unwrap()
        .input("images", input);
    test.run(run).unwrap();
    let out = test.output("image_quality").unwrap();
    assert_eq!(out.text("flags").unwrap().get(1), Some("corrupt"));
    assert_eq!(out.text("reasons").unwrap().get(1), Some("3 bytes for 8×8"));
    assert_eq!(out.f64("brightness").unwrap().get(1), None);
    assert_eq!(test.gauge("gpu"), Some(0.0));
    let checks = test.check(checks).unwrap();
    assert!(!checks[0].is_passed());
    assert_eq!(checks[0].failing_rows(), &[1]);
}
