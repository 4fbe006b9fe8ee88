module github.com/vitalsgo/vitals

go 1.25
