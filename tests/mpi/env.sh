# env.sh: what the MPI tests (tests/integration/mpi_*.sh) source before they run mpirun.
# As root, Open MPI's mpirun refuses to start without --allow-run-as-root or these two variables;
# a machine with fewer free cores than ranks needs --oversubscribe (here through its MCA
# variable), and oversubscribed ranks should yield the CPU while they wait in a collective.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
# shared memory and loopback only: one machine (no probing of other network interfaces)
export OMPI_MCA_btl=self,vader
command -v mpirun >/dev/null \
  || { echo "FAIL: mpirun not found (tools/install-deps installs openmpi-bin)"; exit 1; }
# under `make test-asan`, ranks started by mpirun run without LeakSanitizer (AddressSanitizer's
# other checks stay on): Open MPI keeps allocations from MPI_Init in the components it unloads at
# MPI_Finalize, so their stacks cannot even be named, let alone suppressed. The plain-process
# runs of the same scripts keep leak detection.
mpi_env() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$@"; }
# a job that hangs is a failure, not a stuck test suite
mpirun2() { mpi_env timeout -k 5 120 mpirun -np 2 "$@"; }
