"""Claims whose checks live in more than one module, declared once here so their metadata cannot drift apart."""
from harness.claim import Claim
from models.activations import leaky_relu

# Leaky ReLU's slope, a setting the claims about it are mapped over: torch's default, and document 003's "alpha is
# often set to 0.1". Each slope's registry name, as TrainConfig.activation takes it.
DOCUMENT_LEAKY_SLOPE = 0.1
LEAKY_SLOPES = {slope: leaky_relu(slope).name for slope in (0.01, DOCUMENT_LEAKY_SLOPE)}

RELU_SPARSITY = Claim(
    id="relu-sparsity",
    source="000_117cae05039cffeb.txt, 002_f53af5c4161cb5ad.txt",
    quote="\"ReLU's sparse activation\"; \"activation sparsity is necessary\"",
    statement="ReLU hidden units are exactly zero on a large share of inputs (about half at symmetric init); "
              "sigmoid/tanh/softsign units are almost never exactly zero.",
    document={"relu_zero_share": 0.5},
)
LEAKY_NEVER_DIES = Claim(
    id="leaky-relu-never-dies",
    source="003_18664cc3255f4d6e.txt",
    quote="will not \"die\" (because no derivative equals 0)",
    statement="Leaky ReLU's derivative is >= alpha > 0 everywhere, so a unit pushed into the negative region keeps "
              "receiving gradient (its weights and bias change) and can recover (its pre-activation turns positive "
              "on some training input), where a ReLU unit in the same state cannot.",
)
