/* The reference model for the big check's benchmark: the per-MM UKVA with SMP-safe updates, written
 * directly in Promela (not exported by the engine), small enough for SPIN to finish.
 *
 * One MM shared by NTASKS tasks (made with CLONE_VM), each task with one private object whose
 * UKVA slot is its own; NCPUS CPUs, each idle until it first switches to a task and from then
 * on running one task at a time (it switches only to a task no CPU runs); an unbounded TLB
 * per CPU (one entry per slot: none, or the version it cached); UPDATES SMP-safe updates in
 * all: take the MM's lock, remap the slot to a new version, flush the local entry and shoot
 * the entry down on every other CPU that has the MM loaded, all before the lock is dropped
 * (the IPIs are acknowledged).  A read by a task of its own slot fills from the page table on
 * a miss and must see the current version.
 *
 * Its state space is the issue's: 3,769,921 states = the start + 35 ways to spread 3 updates
 * over 4 slots x (for 1 to 3 busy CPUs, which tasks they run) x 2 (an entry or none) per busy
 * CPU and slot.  (Letting a CPU go back to idle gave 10,465,281; the globals are initialised
 * in their declarations, so no init process adds a state.)
 *
 * Run:  spin -a permm.pml && gcc -O2 -DSAFETY -DNOREDUCE -o pan pan.c && ./pan -m100000
 */
#define NCPUS   3
#define NTASKS  4
#define UPDATES 3
#define IDLE    NTASKS
#define NONE    255

byte pt[NTASKS];                   /* the page table: the version each slot maps */
byte tlb[NCPUS * NTASKS] = NONE;   /* tlb[c*NTASKS+s]: the version CPU c cached for slot s */
byte running[NCPUS] = IDLE;        /* the task each CPU runs, or IDLE */
byte updates_left = UPDATES;

inline free_task(t, ok) {           /* t runs on no CPU */
  ok = true;
  k = 0;
  do
  :: k < NCPUS -> if :: running[k] == t -> ok = false :: else -> skip fi; k++
  :: else -> break
  od
}

active [NCPUS] proctype cpu() {
  byte c = _pid;
  byte t, k, o;
  bool ok;
  do
  /* switch to a task that runs nowhere else (a CPU idles only until its first task); the
     same MM: no CR3 write, no flush */
  :: atomic {
       select(t : 0 .. NTASKS - 1);
       free_task(t, ok);
       if :: ok -> running[c] = t :: else -> skip fi;
       t = 0; k = 0; ok = false
     }
  /* the running task reads its own slot through the TLB */
  :: atomic {
       running[c] != IDLE ->
       t = running[c];
       if :: tlb[c * NTASKS + t] == NONE -> tlb[c * NTASKS + t] = pt[t] :: else -> skip fi;
       assert(tlb[c * NTASKS + t] == pt[t]);
       t = 0
     }
  /* an SMP-safe update of the running task's slot: lock, remap, local flush, shootdown */
  :: atomic {
       running[c] != IDLE && updates_left > 0 ->
       t = running[c];
       updates_left--;
       pt[t]++;
       o = 0;
       do
       :: o < NCPUS -> tlb[o * NTASKS + t] = NONE; o++
       :: else -> break
       od;
       t = 0; o = 0
     }
  od
}
