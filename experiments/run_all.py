"""Runs every experiment (pass --quick for the shrunken configurations)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["q2_amortised.py", "q3_iwae.py", "q4_masks.py", "q5_discriminator.py",
           "q6_critics.py", "q7_jsd.py"]

if __name__ == "__main__":
  for s in SCRIPTS:
    print(f"== {s}", flush=True)
    subprocess.run([sys.executable, str(HERE / s), *sys.argv[1:]], check=True)
