//! The article's first demo: a 2→4→4→3 network learns to output the zero vector.
//!
//! Every layer is LeakyReLU, the loss is MSE against the zero vector, the learning rate is
//! 0.001, and the network takes 10 000 SGD steps on random inputs drawn from N(0, 1). The
//! summed loss over 100 fresh random inputs should fall sharply (the article saw 0.76 →
//! 0.016).
//!
//! ```text
//! cargo run --release --example zeros [-- --seed N]
//! ```

use nn::prelude::*;
use nn::rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let seed = parse_seed()?;
    let mut rng = StdRng::seed_from_u64(seed);

    // 2 → 4 → 4 → 3, LeakyReLU everywhere, initialised as the original does.
    let layers = vec![
        Dense::new(2, 4, LeakyRelu, Init::Original, &mut rng)?,
        Dense::new(4, 4, LeakyRelu, Init::Original, &mut rng)?,
        Dense::new(4, 3, LeakyRelu, Init::Original, &mut rng)?,
    ];
    let mut net = NeuralNetwork::<f64>::new(layers, Mse, 0.001)?;
    let zeros = Array2::zeros((3, 1));

    // A fixed set of 100 test inputs, one per column, to measure the loss on.
    let test: Array2<f64> =
        Array2::from_shape_simple_fn((2, 100), || StandardNormal.sample(&mut rng));
    let summed_loss = |net: &NeuralNetwork<f64>| -> nn::Result<f64> {
        let mut total = 0.0;
        for x in test.columns() {
            let x = x.insert_axis(Axis(1));
            total += net.loss(net.forward_pass(x)?.view(), Target::Values(zeros.view()))?;
        }
        Ok(total)
    };

    let before = summed_loss(&net)?;
    // Train one sample at a time, as the article does.
    for _ in 0..10_000 {
        let x: Array2<f64> =
            Array2::from_shape_simple_fn((2, 1), || StandardNormal.sample(&mut rng));
        net.train(x.view(), Target::Values(zeros.view()))?;
    }
    let after = summed_loss(&net)?;

    println!("seed {seed}: 10000 SGD steps, learning rate 0.001");
    println!("summed loss over 100 random inputs: {before:.4} -> {after:.4}");
    Ok(())
}

const HELP: &str = "\
usage: zeros [--seed N]

The article's demo: a 2→4→4→3 LeakyReLU network learns to output zeros for random inputs;
prints the summed loss over 100 inputs before and after training.

  --seed N   seed of the weights and of the random inputs (an integer; default 0)
  --help     this text";

fn parse_seed() -> Result<u64, lexopt::Error> {
    use lexopt::prelude::*;
    let mut seed = 0;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("seed") => seed = parser.value()?.parse()?,
            Long("help") => {
                println!("{HELP}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(seed)
}
