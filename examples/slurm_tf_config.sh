#!/usr/bin/env bash
# Run a command in every task of a Slurm job step with TF_CONFIG set for multi-worker training:
# the step's nodes are the workers, in Slurm's node order, and worker 0 (the first node) is the chief.
# Run it with one task per node (each worker uses every GPU of its node, or its CPU):
#
#   srun --ntasks-per-node=1 --kill-on-bad-exit=1 examples/slurm_tf_config.sh \
#       cam-keras train photos/ --out runs/a --config configs/resnet50_gpu.toml
#
# CAM_KERAS_PORT (default 23456) is the port each worker listens on; it must be free on every node.
set -euo pipefail

if [[ "${SLURM_STEP_NUM_TASKS:-}" != "${SLURM_STEP_NUM_NODES:-}" ]]; then
    echo "slurm_tf_config.sh: run one task per node (srun --ntasks-per-node=1);" \
        "this step has ${SLURM_STEP_NUM_TASKS:-?} tasks on ${SLURM_STEP_NUM_NODES:-?} nodes" >&2
    exit 2
fi
port="${CAM_KERAS_PORT:-23456}"
workers=""
index=""
count=0
for host in $(scontrol show hostnames "$SLURM_STEP_NODELIST"); do
    workers="${workers:+$workers, }\"$host:$port\""
    [[ "$host" == "$SLURMD_NODENAME" ]] && index=$count
    count=$((count + 1))
done
if [[ -z "$index" ]]; then
    echo "slurm_tf_config.sh: this node ($SLURMD_NODENAME) is not in the step's node list ($SLURM_STEP_NODELIST)" >&2
    exit 2
fi
export TF_CONFIG="{\"cluster\": {\"worker\": [$workers]}, \"task\": {\"type\": \"worker\", \"index\": $index}}"
exec "$@"
