module github.com/ivrd/ivrd

go 1.26
