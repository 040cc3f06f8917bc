# Deliveries/s, p99 publish-to-delivery latency and deliveries per server CPU second (the cost
# curve) against the number of subscribers, one line per server, from the sweep-<server>.dat
# files (columns: subs deliveries/s p99-ms deliveries-per-CPU-s) that bench/run.sh writes.
# usage: gnuplot -e "outdir='bench/out/latest'; servers='ssebroker nchan node bound'" bench/plot.gp
if (!exists("outdir")) outdir = 'bench/out/latest'
if (!exists("servers")) servers = 'ssebroker nchan node bound'

# term/output: another terminal (the test suite renders it as text to read the axis labels).
if (!exists("term")) term = 'pngcairo size 1000,1300 font ",11"'
if (!exists("output")) output = outdir.'/sweep.png'
set terminal @term
set output output
set multiplot layout 3,1 title "one topic, publishing as fast as the window allows"
set grid
set key top left
set logscale x
set xlabel "subscribers"
# Millions with enough digits that neighbouring ticks never print the same label.
set format y "%.2f"

set ylabel "deliveries/s (millions)"
plot for [s in servers] outdir.'/sweep-'.s.'.dat' using 1:($2/1e6) with linespoints lw 2 pt 7 title s

set ylabel "p99 latency (ms)"
set logscale y
set format y "%g"
plot for [s in servers] outdir.'/sweep-'.s.'.dat' using 1:3 with linespoints lw 2 pt 7 title s

set ylabel "deliveries per server CPU second (millions)"
set format y "%.2f"
plot for [s in servers] outdir.'/sweep-'.s.'.dat' using 1:($4/1e6) with linespoints lw 2 pt 7 title s

unset multiplot
