#pragma once

// Replays a job trace with gangs (Philly-derived, simulator/trace/philly.h) on a cluster of
// identical GPU nodes, through the real framework and plugins, and measures what users of a
// training cluster feel: job completion time, queueing delay, makespan, GPU utilization, gang
// wait, partial gangs and deadlock.
//
//   JobSimOptions opt;  opt.nodes = 64;  opt.mode = "gang";  opt.order = "backfill";
//   ASSIGN_OR_RETURN(JobSimResult r, RunJobSim(jobs, opt));
//   r.avg_jct_hours; r.partial_gangs /* 0 with gang scheduling */; r.deadlocked;
//
// Model:
//  - A job of G GPUs is ceil(G / gpus_per_pod) member pods of gpus_per_pod whole GPUs (the last
//    one takes the remainder); with gpus_per_pod = 1 the gang size is the trace's scale_factor.
//    Members ask for 4 CPUs and 32 GiB per GPU.
//  - Nodes have gpus_per_node GPUs, 12 CPUs and 96 GiB per GPU; racks of nodes_per_rack nodes
//    (label topology.gpusched.io/rack), optionally NVLink domains of nodes_per_nvlink_domain
//    nodes (label nvidia.com/gpu.clique).
//  - A job runs once all its members are bound, for the trace's duration, then all leave.
//  - mode "gang": profile Gang + NodeResourcesFit(MostAllocated) + DefaultBinder; the members
//    of a job are tried one after the other and the Gang plugin binds all or none.
//    mode "naive": the same without Gang, i.e. kube-scheduler's per-pod behaviour: each pod binds
//    as soon as it fits, so jobs can hold part of what they need while waiting.
//  - order (which pending job is tried first, at every arrival and completion):
//      fifo            arrival order, strictly: a job that does not fit blocks those behind it
//                      (a batch queue without backfilling);
//      greedy          arrival order; a job that does not fit is skipped (kube-scheduler's
//                      queue, which never blocks);
//      smallest-first  fewest GPUs first (then arrival); a job that does not fit is skipped;
//      backfill        EASY backfilling (gang mode only): arrival order; when the head does not
//                      fit it gets a reservation at the earliest time enough running jobs will
//                      have ended (durations are known to the simulator: a perfect estimate),
//                      and later jobs may start now if they fit and would not delay it.
//    In naive mode the queue holds pods: pods of jobs that tie in the order (same arrival; for
//    smallest-first also same size) interleave by member index, as pods that controllers create
//    at the same moment do; fifo stops at the first pod that does not fit, the others skip it.
//  - Deadlock: after a scheduling pass, nothing runs but jobs are pending. Nothing can change
//    that (no completion will free GPUs), so the run stops there and says so; the jobs left are
//    counted as stuck with the GPUs they hold, and jobs that had not arrived yet as unfinished.
//    The times (JCT, queueing) of such a run cover only the jobs that finished before it.
//  - A job larger than the cluster (or than one rack with gang_topology "rack") can never run;
//    it is counted as never_fits and left out of the other figures.
// Deterministic: the same trace and options give the same result and digest.
// Cost: one scheduling cycle (O(nodes)) per pod tried. Gang fifo and greedy passes walk the queue
// from its first waiting job and stop at the first job that does not fit (fifo) or when no GPU
// is free; started jobs leave the queue lazily (amortized O(1)), so on an overloaded cluster the
// time per job stays flat (bench/trace_benchmark BM_RunJobSimOverloaded: ~37 k jobs/s at 5 k and
// 20 k jobs). smallest-first and backfill sort or scan the waiting jobs each pass (O(P log P) for P
// waiting), and naive mode walks the waiting pods until no GPU is free (O(P) per pass at worst).
// Memory: every job's member pods are built up front, about 2.5 kB per job.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "simulator/trace/philly.h"

namespace gpusched::simulator {

struct JobSimOptions {
  int nodes = 64;
  int gpus_per_node = 8;
  int gpus_per_pod = 1;
  int nodes_per_rack = 8;
  int nodes_per_nvlink_domain = 0;  // 0: no NVLink domain labels
  std::string mode = "gang";        // gang | naive
  std::string order = "fifo";       // fifo | greedy | smallest-first | backfill
  std::string gang_topology;        // "" (none) | any | nvlink-domain | rack
  uint64_t seed = 1;                // tie-breaking among equal nodes
  // "framework": Framework::SchedulePod with the Gang plugin's Permit;
  // "extender":  every pod the way kube-scheduler drives the extender (filter, prioritize, its
  //              own combination with `extender_weight`, bind), gangs through LiveScheduler's
  //              plans (no gang topology there yet).
  std::string path = "framework";
  int64_t extender_weight = 100;
  size_t curve_points = 400;        // utilization curve samples kept
};

// InvalidArgument naming the bad option.
absl::Status ValidateJobSimOptions(const JobSimOptions& options);

// The most GPUs one gang can have with these options: the cluster's, or one rack's or NVLink
// domain's with that gang topology. Larger jobs never run (JobSimResult::never_fits).
int MaxGangGpus(const JobSimOptions& options);

struct JobSimResult {
  std::string label;  // "gang/fifo"
  std::string mode, order;
  int jobs = 0;
  int finished = 0;
  int never_fits = 0;
  int unfinished = 0;  // pending or running when the run stopped (deadlock)
  double avg_jct_hours = 0, p99_jct_hours = 0;
  double avg_queue_hours = 0, p99_queue_hours = 0;
  // Queueing delay of the jobs with more than one member (the gang's wait for all its places).
  double avg_gang_wait_hours = 0;
  double makespan_hours = 0;       // first arrival to last completion
  double utilization_pct = 0;      // GPU-hours of running jobs / (GPUs x makespan)
  double held_idle_gpu_hours = 0;  // GPUs held by members of jobs that were not running yet
  int partial_gangs = 0;           // jobs seen holding some but not all members after a pass
  bool deadlocked = false;
  double deadlock_at_hours = 0;
  int stuck_jobs = 0;
  int stuck_gpus_held = 0;
  int64_t scheduling_cycles = 0;
  std::vector<std::pair<double, double>> busy_curve;  // (hours, % of GPUs running jobs)
  std::vector<double> jct_hours;  // every finished job's completion time, ascending
  uint64_t digest = 0;  // of the start time of every job
};

absl::StatusOr<JobSimResult> RunJobSim(const std::vector<trace::JobRecord>& jobs,
                                       const JobSimOptions& options);

}  // namespace gpusched::simulator
