package faulttest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/uuid"

	"github.com/camaudit/camaudit/internal/brokertest"
	"github.com/camaudit/camaudit/internal/pgtest"
	"github.com/camaudit/camaudit/wire"
)

// TestSharedSubscriptionScaleOut runs two hub instances on one PostgreSQL
// database, subscribed as the shared subscription $share/hubs/...: 2,000
// sightings from four devices, then 200 of them again (redeliveries). Each
// sighting is stored once, every message is counted once across the two
// instances, both instances take a share of the load and both serve the
// same registry.
func TestSharedSubscriptionScaleOut(t *testing.T) {
	t.Parallel()
	const n, again, devices = 2000, 200, 4
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	b := brokertest.Start(t, "max_queued_messages 100000\n")
	h1 := StartHub(t, bins.Hub, HubOptions{DB: dbURL, Broker: b.URL(), ClientID: "hub-a", Group: "hubs"})
	h2 := StartHub(t, bins.Hub, HubOptions{DB: dbURL, Broker: b.URL(), ClientID: "hub-b", Group: "hubs"})
	db := OpenDB(t, dbURL)

	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	walkID := uuid.Must(uuid.NewV7()).String()
	payloads := make([][][]byte, devices)
	for i := 0; i < n; i++ {
		d := i % devices
		s := wire.Sighting{Schema: wire.SchemaSighting, ID: uuid.Must(uuid.NewV7()).String(), Device: fmt.Sprintf("pi-scale-%d", d),
			Walk: walkID, Time: now, Lat: 52.40 + float64(i/50)*0.001, Lon: 13.30 + float64(i%50)*0.001, ErrM: 3,
			Type: wire.CameraTypes[i%4], Confidence: 0.8, Frames: 10, BaselineM: 12, Model: "scale-test"}
		p, err := wire.Encode(&s, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		payloads[d] = append(payloads[d], p)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for d := 0; d < devices; d++ {
		c := mqttClient(t, b.URL(), fmt.Sprintf("pi-scale-%d", d))
		msgs := append(payloads[d], payloads[d][:again/devices]...) // then some again
		wg.Add(1)
		go func(d int, c mqtt.Client, msgs [][]byte) {
			defer wg.Done()
			topic := wire.Topic(fmt.Sprintf("pi-scale-%d", d), wire.KindSightings)
			toks := make([]mqtt.Token, 0, len(msgs))
			for _, p := range msgs {
				toks = append(toks, c.Publish(topic, 1, false, p))
			}
			for _, tok := range toks {
				if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
					t.Errorf("publish: %v", tok.Error())
					return
				}
			}
		}(d, c, msgs)
	}
	wg.Wait()
	WaitFor(t, 120*time.Second, "every message to be stored", func() bool {
		a, b := h1.Ingest(), h2.Ingest()
		return a.Received+b.Received >= n+again
	})
	took := time.Since(start)
	a, c := h1.Ingest(), h2.Ingest()
	if got := db.Count(t, `SELECT count(*) FROM sightings`); got != n {
		t.Errorf("the store holds %d sightings, want %d", got, n)
	}
	if got := db.Count(t, `SELECT count(DISTINCT id) FROM sightings`); got != n {
		t.Errorf("%d distinct sighting ids, want %d", got, n)
	}
	if a.Received+c.Received != n+again || a.Accepted+c.Accepted != n || a.Duplicates+c.Duplicates != again {
		t.Errorf("instances counted received %d+%d, accepted %d+%d, duplicates %d+%d; want %d, %d, %d in all",
			a.Received, c.Received, a.Accepted, c.Accepted, a.Duplicates, c.Duplicates, n+again, n, again)
	}
	if a.Received == 0 || c.Received == 0 {
		t.Errorf("one instance did all the work: %d / %d", a.Received, c.Received)
	}
	for _, h := range []*Hub{h1, h2} {
		WaitFor(t, 30*time.Second, "both registries to follow the store", func() bool { return h.Stats().Sightings == n })
	}
	st := h1.Stats()
	if st.Duplicates != again || st.Accepted["sightings"] != n {
		t.Errorf("shared counters: %d duplicates, %d sightings accepted; want %d, %d", st.Duplicates, st.Accepted["sightings"], again, n)
	}
	t.Logf("%d messages (%d sightings + %d redeliveries) from %d devices in %.1f s: hub-a took %d (%.0f %%), hub-b %d (%.0f %%); %d stored, each once",
		n+again, n, again, devices, took.Seconds(), a.Received, 100*float64(a.Received)/float64(n+again),
		c.Received, 100*float64(c.Received)/float64(n+again), n)
}
