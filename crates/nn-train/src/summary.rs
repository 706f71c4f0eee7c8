//! The summary a network prints with `{}`: its layers as a table, not its weights (which
//! `{:?}` shows).

use std::fmt;

use nn_core::Float;

use crate::NeuralNetwork;

impl<F: Float> fmt::Display for NeuralNetwork<F> {
    /// One line per layer, with its shape, activation and number of parameters, after the
    /// input (and its preprocessing step) and before the total, the loss and the
    /// optimizer:
    ///
    /// ```text
    /// layer  shape        activation        parameters
    /// input  784          preprocessing scale
    /// 0      784 → 256    relu                 200,960
    /// 1      256 → 10     identity               2,570
    /// total                                    203,530
    /// loss cross_entropy, optimizer adam(lr=0.001, …), f32
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 4]> = (self.layers().iter().enumerate())
            .map(|(i, layer)| {
                [
                    i.to_string(),
                    format!("{} → {}", layer.ins(), layer.outs()),
                    match layer.dropout() {
                        Some(d) => {
                            format!("{}, dropout {} in", layer.activation().name(), d.rate())
                        }
                        None => layer.activation().name(),
                    },
                    thousands(layer.parameter_count()),
                ]
            })
            .collect();
        let input = match self.preprocessing() {
            Some(p) => format!("preprocessing {}", p.kind()),
            None => String::new(),
        };
        let total = thousands(self.parameter_count());
        let shape_width = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
        let shape_width = shape_width.max("shape".len());
        let activation_width = (rows.iter().map(|r| r[2].chars().count()))
            .chain([input.chars().count(), "activation".len()])
            .max()
            .unwrap_or(0);
        let count_width = total.len().max("parameters".len());
        writeln!(
            f,
            "{:<6} {:<shape_width$} {:<activation_width$} {:>count_width$}",
            "layer", "shape", "activation", "parameters"
        )?;
        writeln!(f, "{:<6} {:<shape_width$} {input}", "input", self.ins())?;
        for [index, shape, activation, count] in &rows {
            writeln!(
                f,
                "{index:<6} {shape:<shape_width$} {activation:<activation_width$} {count:>count_width$}"
            )?;
        }
        writeln!(
            f,
            "{:<6} {:<shape_width$} {:<activation_width$} {total:>count_width$}",
            "total", "", ""
        )?;
        write!(
            f,
            "loss {}, optimizer {}, {}",
            self.loss_function().name(),
            self.optimizer().name(),
            F::DTYPE.name().to_lowercase()
        )?;
        if let Some(names) = self.class_names() {
            write!(f, ", classes {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// `n` with a comma every three digits: `235146` → `235,146`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Adam;
    use nn_core::Preprocessing;
    use nn_layers::{Identity, Relu};
    use nn_loss::CrossEntropy;

    #[test]
    fn thousands_are_separated() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (235_146, "235,146"),
        ] {
            assert_eq!(thousands(n), text);
        }
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_network_prints_its_layers_not_its_weights() {
        let mut net = NeuralNetwork::<f32>::builder(784)
            .dense(256, Relu)
            .dense(10, Identity)
            .loss(CrossEntropy)
            .optimizer(Adam::new(1e-3).unwrap())
            .build()
            .unwrap();
        net.set_preprocessing(Some(Preprocessing::scale(784, 1.0 / 255.0).unwrap()))
            .unwrap();
        let text = net.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["layer", "shape", "activation", "parameters"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["input", "784", "preprocessing", "scale"]
        );
        assert_eq!(
            lines[2].split_whitespace().collect::<Vec<_>>(),
            ["0", "784", "→", "256", "relu", "200,960"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["1", "256", "→", "10", "identity", "2,570"]
        );
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            ["total", "203,530"]
        );
        assert!(
            lines[5].starts_with("loss cross_entropy, optimizer adam(lr=0.001"),
            "{text}"
        );
        assert!(lines[5].ends_with(", f32"), "{text}");
        // The counts line up on the right.
        let ends: Vec<usize> = lines[2..5].iter().map(|l| l.chars().count()).collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{text}");
        net.set_class_names(Some((0..10).map(|c| c.to_string()).collect()))
            .unwrap();
        assert!(net
            .to_string()
            .ends_with("f32, classes 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"));
    }
}
