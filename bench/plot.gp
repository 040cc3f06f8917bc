# Deliveries/s and p99 publish-to-delivery latency against the number of subscribers, one line
# per server, from the sweep-<server>.dat files (columns: subs deliveries/s p99-ms) that
# bench/run.sh writes.
# usage: gnuplot -e "outdir='bench/out/latest'; servers='ssebroker nchan node'" bench/plot.gp
if (!exists("outdir")) outdir = 'bench/out/latest'
if (!exists("servers")) servers = 'ssebroker nchan node'

set terminal pngcairo size 1000,900 font ",11"
set output outdir.'/sweep.png'
set multiplot layout 2,1 title "one topic, publishing as fast as the window allows"
set grid
set key top left
set logscale x
set xlabel "subscribers"
set format y "%.0s%c"

set ylabel "deliveries/s"
plot for [s in servers] outdir.'/sweep-'.s.'.dat' using 1:2 with linespoints lw 2 pt 7 title s

set ylabel "p99 latency (ms)"
set logscale y
set format y "%g"
plot for [s in servers] outdir.'/sweep-'.s.'.dat' using 1:3 with linespoints lw 2 pt 7 title s

unset multiplot
