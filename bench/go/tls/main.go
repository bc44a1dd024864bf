// SPDX-License-Identifier: MIT
// Go peer of bench/tls.sh: a crypto/tls server, one goroutine per
// connection (run with GOMAXPROCS=1).
//
//	-m echo  echoes what it reads (Read of up to 64 KiB, Write)
//	-m http  net/http: GET / -> "Hello, World!" (text/plain), keep-alive
//
// TLS 1.3 only, X25519 (Go picks TLS_AES_128_GCM_SHA256 on a CPU with
// AES-NI; its TLS 1.3 suites are not configurable), session tickets on
// (Go's default).  Prints "Serving on 127.0.0.1:PORT", serves until killed.
//
// Usage: go_tls -c CERT -k KEY [-m echo|http] [-p PORT]
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	mode := flag.String("m", "echo", "echo or http")
	cert := flag.String("c", "", "certificate (PEM)")
	key := flag.String("k", "", "key (PEM)")
	port := flag.Int("p", 0, "port (0: any)")
	flag.Parse()
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cfg := &tls.Config{
		Certificates:     []tls.Certificate{pair},
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
	ln, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("Serving on %s\n", ln.Addr().String())
	os.Stdout.Sync()
	if *mode == "http" {
		hello := []byte("Hello, World!")
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(hello)
		})
		http.Serve(ln, h)
		return
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go echo(c)
	}
}
