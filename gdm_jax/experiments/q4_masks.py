"""Q4: the four receptive fields of pixel 33 (from the network's Jacobian) and the blind spot of
A-then-B stacks versus depth, next to the gated PixelCNN."""
import numpy as np

from gdm_jax import masked_conv as mc
from gdm_jax.experiments import common
from gdm_jax.experiments.common import out_dir, plt, save, write_table


def blind_spot_vs_depth(size: int = 9, max_layers: int = 8, pixel=None):
  """Number of raster predecessors of ``pixel`` unseen by A + (L-1) x B, for L = 1..max_layers."""
  pixel = pixel or (size, (size + 1) // 2)
  out = []
  for layers in range(1, max_layers + 1):
    field = mc.receptive_field("A" + "B" * (layers - 1), size, pixel)
    out.append((layers, len(mc.blind_spot(field, size, pixel)), len(field)))
  return out


def run(out, quick: bool = False, seed: int = 0) -> None:
  """Writes this experiment's figures and tables into ``out``."""
  out = out_dir(out)
  fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
  for ax, stack in zip(axes, ["AA", "AB", "BA", "BB"]):
    field = set(mc.receptive_field(stack, 5, (3, 3)))
    img = np.zeros((5, 5))
    for r, c in field:
      img[r - 1, c - 1] = 1
    ax.imshow(img, cmap="Blues", vmin=0, vmax=1.4)
    for r in range(5):
      for c in range(5):
        label = f"{r + 1}{c + 1}"
        ax.text(c, r, label, ha="center", va="center",
                color="k" if (r + 1, c + 1) in field else "0.6",
                fontweight="bold" if (r, c) == (2, 2) else None)
    ax.add_patch(plt.Rectangle((1.5, 1.5), 1, 1, fill=False, ec="red", lw=2))
    ax.set_title(f"layer 1: {stack[0]}, layer 2: {stack[1]}")
    ax.set_xticks(range(5), [str(c + 1) for c in range(5)])
    ax.set_yticks(range(5), [str(r + 1) for r in range(5)])
    ax.set(xlabel="column (pixel)", ylabel="row (pixel)")
    print(f"{stack}:\n{mc.grid(sorted(field), 5, (3, 3))}\n")
  save(fig, out, "q4_receptive_fields")
  rows = blind_spot_vs_depth(7 if quick else 12, 4 if quick else 10)
  print(write_table(out, "q4_blind_spot", ["layers", "unseen predecessors (pixels)",
                                               "field size (pixels)"],
                    [list(r) for r in rows]))
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label="A + B...B stack")
  ax.axhline(0, color="g", ls="--", label="gated PixelCNN (claim q4.gated_no_blind_spot)")
  ax.set(xlabel="layers (count)", ylabel="unseen raster predecessors (pixels)",
         title="blind spot of the bottom-centre pixel (exact)")
  ax.legend()
  save(fig, out, "q4_blind_spot")


def main(argv=None) -> None:
  common.main(run, __doc__, argv)


if __name__ == "__main__":
  main()
