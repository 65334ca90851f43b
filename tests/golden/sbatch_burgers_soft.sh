#!/bin/bash
# Written by `pinnrun sbatch`: burgers_soft on 2 node(s) x 4 rank(s).
# Results: @OUT@
# Stop it cleanly (every rank at its next chunk, with a final checkpoint):
#   scancel --batch --signal=TERM JOBID
# A plain `scancel JOBID` stops every rank at once. Either way the run says interrupted and
# continues with: pinnrun train --resume @OUT@
#SBATCH --job-name=burgers_soft
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --time=1-12:00:00
#SBATCH --partition=gpu
#SBATCH --account=proj-42
#SBATCH --output="@OUT@.slurm-%j.out"
#SBATCH --signal=B:TERM@120

# pinnrun takes the hosts, ranks and GPUs from the allocation; exec: SLURM's signals reach it
exec @PINNRUN@ train @REPO@/problems/burgers_soft.yaml --out @OUT@ --stop-grace 60 --set training.adam.steps=2000 --set 'description=the "golden" run $(not run); '"'"'x'"'"''
