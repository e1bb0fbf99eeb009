# gnuplot script for `make bench`: reads the data files the bench writes
# into `dir` (default build/bench) and draws dir/bench.png, two panels a row:
#   latency       ns per allocate+release by implementation and case; a
#                 linear scale capped near the fast ones, so that 10 ns and
#                 12 ns stay apart; bars past the cap are cut and labelled
#                 with their value; whiskers: the rounds' min..max
#   threads       total throughput against threads on one shared pool (log
#                 scale); thread counts above the CPU count are shaded and
#                 labelled oversubscribed
#   backpressure  closed-loop throughput; p99 wait in allocate, closed loop
#                 and paced (the same offered load for every pool)
#   wait CDF      wake latency (section wake) and the paced backpressure
#                 waits, every sample, on a log time axis
#   region        REGION mode's largest free run during the fragmenting load
#   mixed         mixed sizes (random 1..256 x 4 KiB): k ops/s per
#                 implementation, the ring with 1 and 2 threads and
#                 allocate-then-release-at-once (log scale); whiskers as above
#   xthread       cross-thread release (a producer allocates, a consumer
#                 releases): M allocations/s per implementation, n = 1 and
#                 16 on the tight and the loose budget, the loose one also
#                 with both threads on one CPU (log scale); whiskers
# The title names the machine (machine.gp).  A panel whose data file is
# missing (its section did not run) is left out.
# Usage: gnuplot -e "dir='build/bench'" bench/harness/plot.gp

if (!exists("dir")) dir = 'build/bench'
f_lat = dir.'/latency.dat'
f_thr = dir.'/threads.dat'
f_bp = dir.'/backpressure.dat'
f_wake = dir.'/wait_wake.dat'
f_paced = dir.'/wait_paced.dat'
f_frag = dir.'/region_frag.dat'
f_mix = dir.'/mixed.dat'
f_xt = dir.'/xthread.dat'
exists_file(f) = int(system("[ -s '".f."' ] && echo 1 || echo 0"))
have_lat = exists_file(f_lat)
have_thr = exists_file(f_thr)
have_bp = exists_file(f_bp)
have_wake = exists_file(f_wake)
have_paced = exists_file(f_paced)
have_cdf = have_wake || have_paced
have_frag = exists_file(f_frag)
have_mix = exists_file(f_mix)
have_xt = exists_file(f_xt)
panels = have_lat + have_thr + 2 * have_bp + have_cdf + have_frag + have_mix + have_xt
if (panels == 0) { print "plot.gp: no data files in ".dir; exit }

machine_cpu = "unknown CPU"; machine_cpus = 0; machine_kernel = ""; machine_mode = ""
if (exists_file(dir.'/machine.gp')) load dir.'/machine.gp'
header(f) = system("head -1 '".f."'")
# a round step near x: 1, 2 or 5 times a power of ten
nice(x) = (x / 10**floor(log10(x)) < 1.5 ? 1 : x / 10**floor(log10(x)) < 3.5 ? 2 : \
           x / 10**floor(log10(x)) < 7.5 ? 5 : 10) * 10**floor(log10(x))

# One colour per implementation in every panel (Okabe-Ito, colour-blind safe).
impl_rgb(s) = s eq "bufpool" ? 0x0072B2 : s eq "original" ? 0xD55E00 : \
              s eq "naive" ? 0x009E73 : s eq "mutex" ? 0xCC79A7 : \
              s eq "malloc" ? 0x999999 : s eq "jemalloc" ? 0xE69F00 : \
              s eq "mimalloc" ? 0x000000 : 0x56B4E9
impl_color(s) = sprintf("#%06x", impl_rgb(s))

cols = panels > 1 ? 2 : 1
rows = (panels + cols - 1) / cols
set terminal pngcairo size 1100, 450 * rows + 60 font ",12" noenhanced
set output dir.'/bench.png'
title = "bufpool benchmark (make bench, ".machine_mode."): ".machine_cpu
if (machine_cpus > 0) title = title.sprintf(", %d CPUs", machine_cpus)
if (strlen(machine_kernel) > 0) title = title.", ".machine_kernel
set multiplot layout rows, cols title title font ",14"
set grid ytics
set datafile columnheaders # the first line of every data file names its columns
set style fill solid 0.9 border -1
# whiskers: min..max of the rounds, drawn as vectors with flat heads
set style arrow 1 heads size screen 0.004, 90 lw 1 lc rgb "black"

# ---- latency: five cases per implementation --------------------------------
if (have_lat) {
    # medians in columns 2, 5, 8, 11, 14 (min and max follow each)
    stats f_lat using 2 nooutput
    lo = STATS_min
    do for [c = 5:14:3] { stats f_lat using c nooutput; lo = STATS_min < lo ? STATS_min : lo }
    cap = 10 * ceil(6 * lo / 10)
    nimpl = STATS_records
    set title sprintf("allocate+release latency, ns (lower is better; cut at %g ns)", cap)
    set ylabel "ns per roundtrip"
    set yrange [0 : cap * 1.32]
    set xrange [-0.6 : nimpl - 0.4]
    ystep = nice(cap / 6)
    set ytics ystep
    set xtics rotate by -25 nomirror
    set key below horizontal samplen 1.5 maxcols 3
    w = 0.16
    xc(i, c) = i + (c - 2) * w
    case_color(c) = word("#08306b #2171b5 #6baed6 #a63603 #fd8d3c", c + 1)
    clip(v) = v > cap ? cap : v
    plot f_lat using 0:(NaN):xtic(1) notitle, \
         for [c = 0:4] f_lat using (xc($0, c)):(clip(column(2 + 3 * c))):(w * 0.95) \
             with boxes lc rgb case_color(c) title columnheader(2 + 3 * c), \
         for [c = 0:4] f_lat using (xc($0, c)):(column(2 + 3 * c) > cap ? NaN : column(3 + 3 * c)):(0):(clip(column(4 + 3 * c)) - column(3 + 3 * c)) \
             with vectors arrowstyle 1 notitle, \
         for [c = 0:4] f_lat using (xc($0, c)):(cap * 1.02):(column(2 + 3 * c) > cap ? sprintf("%.0f", column(2 + 3 * c)) : "") \
             with labels rotate by 90 left font ",8" notitle
    unset xrange; unset yrange; set ytics autofreq; set xtics norotate; unset key
    set autoscale
}

# ---- threads: throughput against threads, log scale ------------------------
if (have_thr) {
    h = header(f_thr)
    ncols = words(h)
    stats f_thr using 1 nooutput
    maxthr = STATS_max
    set title "threads sharing one pool (64 B, n = 1; higher is better)"
    set xlabel "threads"
    set ylabel "total M roundtrips/s (log scale)"
    set logscale y
    set xrange [0.8 : maxthr + 0.2]
    set xtics 1
    set key below horizontal maxcols 4 samplen 2
    if (machine_cpus > 0 && machine_cpus < maxthr) {
        set object 1 rect from first machine_cpus + 0.5, graph 0 to graph 1, graph 1 \
            behind fc rgb "#dddddd" fs solid 0.5 noborder
        set label 1 sprintf("%s threads on %d CPUs\n(oversubscribed)", \
            machine_cpus + 1 == maxthr ? sprintf("%d", maxthr) : sprintf("%d-%d", machine_cpus + 1, maxthr), \
            machine_cpus) at first (machine_cpus + 0.5 + maxthr + 0.2) / 2, graph 0.5 center font ",10"
    }
    plot for [c = 2:ncols] f_thr using 1:c with linespoints lw 2 pt 7 ps 0.8 \
        lc rgb impl_color(word(h, c)) title word(h, c)
    unset object 1; unset label 1; unset logscale y; unset xlabel; unset key
    set xtics autofreq
    set autoscale
}

# ---- backpressure: throughput, then p99 wait --------------------------------
if (have_bp) {
    stats f_bp using 2 nooutput
    nbp = STATS_records
    set title "backpressure, closed loop: throughput (higher is better)"
    set ylabel "M allocations/s"
    set xrange [-0.6 : nbp - 0.4]
    set yrange [0 : *]
    unset key
    plot f_bp using 0:2:(0.6):(impl_rgb(strcol(1))):xtic(1) with boxes lc rgb variable notitle, \
         f_bp using 0:3:(0):($4 - $3) with vectors arrowstyle 1 notitle

    set title "backpressure: p99 wait inside allocate (lower is better)"
    set ylabel "us"
    set key below
    plot f_bp using 0:(NaN):xtic(1) notitle, \
         f_bp using ($0 - 0.18):5:(0.34):(impl_rgb(strcol(1))) with boxes lc rgb variable notitle, \
         f_bp using ($0 + 0.18):8:(0.34):(impl_rgb(strcol(1))) with boxes fs pattern 4 border -1 \
             lc rgb variable notitle, \
         f_bp using ($0 - 0.18):6:(0):($7 - $6) with vectors arrowstyle 1 notitle, \
         f_bp using ($0 + 0.18):9:(0):($10 - $9) with vectors arrowstyle 1 notitle, \
         NaN with boxes fs solid 0.9 lc rgb "#777777" title "closed loop (each pool's own load)", \
         NaN with boxes fs pattern 4 lc rgb "#777777" title "paced (the same load for all)"
    unset xrange; unset yrange; unset key
    set autoscale
}

# ---- wait-latency CDF ---------------------------------------------------------
if (have_cdf) {
    set title "wait latency CDF: wake (solid), paced backpressure (dashed)"
    set xlabel "us (log scale)"
    set ylabel "fraction of calls at most x"
    set logscale x
    set yrange [0 : 1.02]
    set ytics 0.1
    set key below horizontal maxcols 2 samplen 4
    set arrow 1 from graph 0, first 0.5 to graph 1, first 0.5 nohead dt 3 lc rgb "#888888"
    set arrow 2 from graph 0, first 0.99 to graph 1, first 0.99 nohead dt 3 lc rgb "#888888"
    hw = have_wake ? header(f_wake) : ""
    hp = have_paced ? header(f_paced) : ""
    nw = have_wake ? words(hw) : 1
    np = have_paced ? words(hp) : 1
    plot for [c = 2:nw] f_wake using c:1 with lines lw 2 lc rgb impl_color(word(hw, c)) \
             title "wake: ".word(hw, c), \
         for [c = 2:np] f_paced using c:1 with lines lw 2 dt 2 lc rgb impl_color(word(hp, c)) \
             title "paced: ".word(hp, c)
    unset arrow 1; unset arrow 2; unset logscale x; unset xlabel; unset key
    set ytics autofreq
    set autoscale
}

# ---- region: largest free run ------------------------------------------------
if (have_frag) {
    stats f_frag using 1 nooutput
    set title "REGION: largest free run under a fragmenting load"
    set xlabel "ms"
    set xtics nice(STATS_max / 5)
    set ylabel "buffers (4 KiB)"
    set yrange [0 : *]
    set key below horizontal
    plot f_frag using 1:2 with lines lw 2 lc rgb impl_color("bufpool") title "largest free run", \
         f_frag using 1:($3 * 256) with lines lw 1 lc rgb "#D55E00" title "in use (buffers)"
    unset xlabel; unset yrange; unset key
    set xtics autofreq
    set autoscale
}

# ---- mixed sizes: three cases per implementation, log scale ------------------
if (have_mix) {
    # medians in columns 2, 5, 8 (min and max follow each)
    stats f_mix using 2 nooutput
    nmix = STATS_records
    set title "mixed sizes, random 1..256 x 4 KiB (higher is better)"
    set ylabel "k ops/s (log scale)"
    set logscale y
    set xrange [-0.6 : nmix - 0.4]
    set xtics rotate by -25 nomirror
    set key below horizontal samplen 1.5
    wm = 0.26
    xm(i, c) = i + (c - 1) * wm
    mix_color(c) = word("#08306b #6baed6 #fd8d3c", c + 1)
    plot f_mix using 0:(NaN):xtic(1) notitle, \
         for [c = 0:2] f_mix using (xm($0, c)):(column(2 + 3 * c)):(wm * 0.95) \
             with boxes lc rgb mix_color(c) title columnheader(2 + 3 * c), \
         for [c = 0:2] f_mix using (xm($0, c)):(column(3 + 3 * c)):(0):(column(4 + 3 * c) - column(3 + 3 * c)) \
             with vectors arrowstyle 1 notitle
    unset logscale y; unset xrange; unset key
    set xtics norotate
    set autoscale
}

# ---- cross-thread release: six cases per implementation, log scale ----------
if (have_xt) {
    # medians in columns 2, 5, ..., 17 (min and max follow each)
    stats f_xt using 2 nooutput
    nxt = STATS_records
    set title "cross-thread release (higher is better)"
    set ylabel "M allocations/s (log scale)"
    set logscale y
    set xrange [-0.6 : nxt - 0.4]
    set xtics rotate by -25 nomirror
    set key below horizontal samplen 1.5 maxcols 3
    wx = 0.13
    xx(i, c) = i + (c - 2.5) * wx
    xt_color(c) = word("#08306b #6baed6 #a63603 #fd8d3c #54278f #9e9ac8", c + 1)
    plot f_xt using 0:(NaN):xtic(1) notitle, \
         for [c = 0:5] f_xt using (xx($0, c)):(column(2 + 3 * c)):(wx * 0.95) \
             with boxes lc rgb xt_color(c) title columnheader(2 + 3 * c), \
         for [c = 0:5] f_xt using (xx($0, c)):(column(3 + 3 * c)):(0):(column(4 + 3 * c) - column(3 + 3 * c)) \
             with vectors arrowstyle 1 notitle
    unset logscale y; unset xrange; unset key
    set xtics norotate
    set autoscale
}

unset multiplot
