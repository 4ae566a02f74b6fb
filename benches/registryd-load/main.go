// Command registryd-load drives one URL with many concurrent clients for a fixed time and
// prints requests per second and latency percentiles (what benches/registryd.sh compares
// between registryd and distribution). Only the standard library.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to request")
	method := flag.String("method", "HEAD", "HTTP method")
	clients := flag.Int("clients", 64, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	ca := flag.String("ca", "", "PEM CA file")
	user := flag.String("user", "", "Basic auth user")
	password := flag.String("password", "", "Basic auth password")
	accept := flag.String("accept", "application/vnd.oci.image.manifest.v1+json", "Accept header")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "registryd-load: -url is required")
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(os.Stderr, "registryd-load: -ca %s: not a PEM CA (%v)\n", *ca, err)
			os.Exit(2)
		}
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: *clients,
	}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	deadline := time.Now().Add(*duration)
	var mu sync.Mutex
	var latencies []time.Duration
	failures := 0
	var wg sync.WaitGroup
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(*method, *url, nil)
				req.Header.Set("Accept", *accept)
				if *user != "" {
					req.SetBasicAuth(*user, *password)
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	n := len(latencies)
	if n == 0 {
		fmt.Fprintf(os.Stderr, "registryd-load: no successful request (%d failures)\n", failures)
		os.Exit(1)
	}
	pct := func(p float64) float64 {
		return float64(latencies[int(float64(n-1)*p)].Microseconds()) / 1000
	}
	fmt.Printf("%.0f %.2f %.2f %d\n", float64(n)/duration.Seconds(), pct(0.50), pct(0.99), failures)
}
