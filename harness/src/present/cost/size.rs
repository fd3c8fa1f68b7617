//! Model-size classes, and the rule that CPU and GPU figures compare one model size: pure
//! functions.
//!
//! A cost per token set against another model's is a comparison of models, not of hardware: a
//! 700M CPU figure beside an 8B GPU figure flatters the CPU by an order of magnitude in work per
//! token. `ternbench cost` refuses it unless `--allow-size-mismatch`, and then the first line of
//! every output says so.

/// The size class of a model with `params` parameters: `under 1B`, `1-3B`, `4-6B`, `7-8B`,
/// `10-20B`, `20-50B`, `70B` (50 to 100 B), `100B and more`.
pub fn class(params: f64) -> &'static str {
    const B: f64 = 1e9;
    match params {
        p if p < 0.95 * B => "under 1B",
        p if p < 4.0 * B => "1-3B",
        p if p < 6.5 * B => "4-6B",
        p if p < 10.0 * B => "7-8B",
        p if p < 20.0 * B => "10-20B",
        p if p < 50.0 * B => "20-50B",
        p if p < 100.0 * B => "70B",
        _ => "100B and more",
    }
}

/// One side of the comparison: a model name and its parameter count.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Model name as shown.
    pub model: String,
    /// Parameters (`None`: unknown).
    pub params: Option<f64>,
}

impl Side {
    fn describe(&self) -> String {
        match self.params {
            Some(p) => format!("{} ({:.2} B parameters, {})", self.model, p / 1e9, class(p)),
            None => format!("{} (size unknown)", self.model),
        }
    }
}

/// What the size check decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Same size class.
    Same(String),
    /// Different classes, allowed: the line every output starts with.
    Mismatch(String),
    /// A size is unknown: a note, not a refusal.
    Unknown(String),
}

/// Checks that `cpu` and `gpu` are one size class; a mismatch is an error unless `allow`.
pub fn check(cpu: &Side, gpu: &Side, allow: bool) -> Result<Verdict, String> {
    let (Some(c), Some(g)) = (cpu.params, gpu.params) else {
        return Ok(Verdict::Unknown(format!(
            "model sizes not checked: CPU {}, GPU {}",
            cpu.describe(),
            gpu.describe()
        )));
    };
    if class(c) == class(g) {
        return Ok(Verdict::Same(format!(
            "one model size on both sides ({}): CPU {}, GPU {}",
            class(c),
            cpu.describe(),
            gpu.describe()
        )));
    }
    let line = format!(
        "SIZE MISMATCH: the CPU figures are for {}, the GPU figures for {}: a {:.1}x difference in \
         parameters, so these costs compare models, not hardware",
        cpu.describe(),
        gpu.describe(),
        c.max(g) / c.min(g)
    );
    if allow {
        Ok(Verdict::Mismatch(line))
    } else {
        Err(format!(
            "{line}. Refused: measure the same size on the CPU (scenarios/cost-8b.toml runs the \
             8B shape of the GPU catalogue's Llama 3.1 8B rows), choose a GPU row of the CPU \
             model's size (--gpu), or pass --allow-size-mismatch to print it labelled"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(m: &str, p: Option<f64>) -> Side {
        Side {
            model: m.into(),
            params: p,
        }
    }

    #[test]
    fn classes_by_hand() {
        assert_eq!(class(0.73e9), "under 1B"); // bitnet-700m
        assert_eq!(class(1.24e9), "1-3B"); // Llama 3.2 1B
        assert_eq!(class(2.41e9), "1-3B"); // 2B4T, tied head
        assert_eq!(class(3.21e9), "1-3B"); // Llama 3.2 3B
        assert_eq!(class(7.5e9), "7-8B"); // bitnet-8b, tied head
        assert_eq!(class(8.03e9), "7-8B"); // Llama 3.1 8B
        assert_eq!(class(70.6e9), "70B");
        assert_eq!(class(405e9), "100B and more");
    }

    #[test]
    fn a_mismatch_is_refused_unless_allowed_and_then_labelled() {
        let cpu = side("bitnet-700m", Some(0.73e9));
        let gpu = side("Llama 3.1 8B", Some(8.03e9));
        let e = check(&cpu, &gpu, false).unwrap_err();
        assert!(
            e.starts_with("SIZE MISMATCH")
                && e.contains("11.0x")
                && e.contains("--allow-size-mismatch"),
            "{e}"
        );
        match check(&cpu, &gpu, true).unwrap() {
            Verdict::Mismatch(l) => assert!(l.starts_with("SIZE MISMATCH: the CPU figures are for bitnet-700m (0.73 B parameters, under 1B)"), "{l}"),
            v => panic!("{v:?}"),
        }
        let same = check(&side("bitnet-8b", Some(7.5e9)), &gpu, false).unwrap();
        assert!(matches!(same, Verdict::Same(l) if l.contains("7-8B")));
        assert!(matches!(
            check(&side("x", None), &gpu, false).unwrap(),
            Verdict::Unknown(_)
        ));
    }
}
