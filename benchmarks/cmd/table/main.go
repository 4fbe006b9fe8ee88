// Command table reads go test -bench output (several rounds) on standard
// input and prints a markdown table of medians: for the middleware, the
// overhead over the bare handler and its ratio to the floor's overhead and
// to vitals'; for the other families, ns/op and the ratio to the first row.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^Benchmark(\w+)/([\w-]+?)(?:-(\d+))?\s+\d+\s+([\d.]+) ns/op(?:.*?\s([\d.]+) allocs/op)?`)

type key struct{ family, name, procs string }

func main() {
	ns := map[key][]float64{}
	allocs := map[key]float64{}
	var order []key
	header := ""
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "# ") {
			header = sc.Text()[2:]
		}
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		procs := m[3]
		if procs == "" {
			procs = "1"
		}
		k := key{m[1], m[2], procs}
		if _, seen := ns[k]; !seen {
			order = append(order, k)
		}
		v, _ := strconv.ParseFloat(m[4], 64)
		ns[k] = append(ns[k], v)
		if m[5] != "" {
			allocs[k], _ = strconv.ParseFloat(m[5], 64)
		}
	}
	if len(order) == 0 {
		fmt.Fprintln(os.Stderr, "table: no benchmark lines on standard input")
		os.Exit(1)
	}
	median := func(k key) float64 {
		v := slices.Clone(ns[k])
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	fmt.Printf("%s; medians\n\n", header)
	for _, fam := range []string{"Middleware", "Counter", "Observe", "Snapshot"} {
		for _, procs := range []string{"1", "2", "4", "8", "16"} {
			var rows []key
			for _, k := range order {
				if k.family == fam && k.procs == procs {
					rows = append(rows, k)
				}
			}
			if len(rows) == 0 {
				continue
			}
			if fam == "Middleware" {
				bare := median(key{fam, "bare", procs})
				floor := median(key{fam, "floor", procs}) - bare
				vitals := median(key{fam, "vitals", procs}) - bare
				fmt.Printf("**%s, GOMAXPROCS=%s**\n\n| middleware | ns/op | overhead ns | overhead / floor's | overhead / vitals' | allocs/op |\n|---|---:|---:|---:|---:|---:|\n", fam, procs)
				for _, k := range rows {
					if k.name == "bare" {
						fmt.Printf("| bare handler | %.1f | – | – | – | %.0f |\n", median(k), allocs[k])
						continue
					}
					o := median(k) - bare
					fmt.Printf("| %s | %.1f | %.1f | %.2f | %.2f | %.0f |\n", k.name, median(k), o, o/floor, o/vitals, allocs[k])
				}
			} else {
				base := median(rows[0])
				fmt.Printf("**%s, GOMAXPROCS=%s**\n\n| implementation | ns/op | ratio to %s | allocs/op |\n|---|---:|---:|---:|\n", fam, procs, rows[0].name)
				for _, k := range rows {
					fmt.Printf("| %s | %.2f | %.2f | %.0f |\n", k.name, median(k), median(k)/base, allocs[k])
				}
			}
			fmt.Println()
		}
	}
}
