# gnuplot script for `make bench`: reads the data files that bench writes
# into `dir` (default build/bench) and draws build/bench/bench.png:
#   left:   ns per allocate+release by implementation and n (log scale)
#   middle: total throughput against threads on one shared pool
#   right:  REGION mode's largest free run during the fragmenting workload
# A panel whose data file is missing (section not run) is left out.
# Usage: gnuplot -e "dir='build/bench'" bench/plot.gp

if (!exists("dir")) dir = 'build/bench'
lat = dir.'/latency.dat'
thr = dir.'/threads.dat'
frag = dir.'/region_frag.dat'
exists_file(f) = int(system("[ -s '".f."' ] && echo 1 || echo 0"))
have_lat = exists_file(lat)
have_thr = exists_file(thr)
have_frag = exists_file(frag)
panels = have_lat + have_thr + have_frag
if (panels == 0) { print "plot.gp: no data files in ".dir; exit }

set terminal pngcairo size 640 * panels + 160, 560 font ",10" noenhanced
set output dir.'/bench.png'
set multiplot layout 1, panels title "bufpool benchmark (make bench)"
set grid ytics

if (have_lat) {
    set title "allocate+release latency (lower is better)"
    set style data histograms
    set style histogram clustered gap 1
    set style fill solid 0.85 border -1
    set boxwidth 0.9
    set logscale y
    set ylabel "ns per roundtrip (log scale)"
    set xtics rotate by -30
    set key tmargin horizontal
    plot for [c=2:6] lat using c:xtic(1) title columnheader(c)
    unset logscale y
    unset style data
    set key default
    set xtics norotate
}

if (have_thr) {
    stats thr using 1 nooutput
    ncols = STATS_columns
    set title "threads sharing one pool (64 B, n = 1; higher is better)"
    set style data linespoints
    set xlabel "threads"
    set ylabel "total M roundtrips/s"
    set xtics 1
    set xrange [0.8:4.2]
    set yrange [0:*]
    set key top left
    plot for [c=2:ncols] thr using 1:c title columnheader(c) lw 2
    set autoscale x
    set autoscale y
    set xtics autofreq
    unset xlabel
}

if (have_frag) {
    set title "REGION: largest free run under a fragmenting load"
    set style data lines
    set xlabel "ms"
    set ylabel "buffers (4 KiB)"
    set yrange [0:*]
    set key top right
    plot frag using 1:2 title "largest free run" lw 2, \
         frag using 1:($3 * 256) title "in use (buffers)" lw 1
}

unset multiplot
