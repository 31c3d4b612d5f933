package federation

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// ClusterInfo is the NATS side of the federation as this connection sees
// it: the server it is connected to, how often it reconnected, and the
// replication health of the federation's JetStream assets. It is part of
// GET /v1/federation and of the node's metrics.
//
// Connected, Server, URL, Cluster and Reconnects are the sync's
// connection's when the services have their own (ConnConfig.ServicesConn):
// the one the node's readiness needs. Services is then that other one.
type ClusterInfo struct {
	Connected bool `json:"connected"`
	// Server is the name of the server the connection is on, URL its
	// client URL without any user or password (the view is public), and
	// Cluster its cluster's name ("" for a server not in a cluster).
	Server  string `json:"server"`
	URL     string `json:"url"`
	Cluster string `json:"cluster"`
	// Reconnects counts the connection's reconnections so far.
	Reconnects uint64 `json:"reconnects"`
	// Services is the services' own connection; nil without one.
	Services *ServicesConnInfo `json:"services,omitempty"`
	// Streams is the health of each federation asset, as its stream
	// leader reports it.
	Streams []StreamHealth `json:"streams"`
	// At is when Streams was read.
	At time.Time `json:"at"`
}

// ServicesConnInfo is the connection that carries the services and the
// requests to other nodes, when it is not the sync's: whether it is up,
// the name of its server ("" while down), and its reconnections so far.
type ServicesConnInfo struct {
	Connected  bool   `json:"connected"`
	Server     string `json:"server"`
	Reconnects uint64 `json:"reconnects"`
}

// StreamHealth is one JetStream asset's replication health.
type StreamHealth struct {
	// Asset is what the stream holds: state, revocations or snapshots.
	Asset  string `json:"asset"`
	Stream string `json:"stream"`
	// Replicas is the configured replication; Current counts the
	// replicas (the leader included) up to date with the leader.
	Replicas int `json:"replicas"`
	Current  int `json:"current"`
	// Leader is the name of the server leading the stream's Raft group;
	// "" on one server, or when the group has no leader (quorum lost).
	Leader string `json:"leader"`
	// Peers are the followers as the leader sees them.
	Peers []PeerHealth `json:"peers,omitempty"`
	// Error says why the stream's info could not be read (JetStream
	// unavailable, quorum lost, no permission); the other fields are then
	// zero.
	Error string `json:"error,omitempty"`
}

// PeerHealth is one follower replica of a stream.
type PeerHealth struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline"`
	// Lag is the number of operations it is behind the leader.
	Lag uint64 `json:"lag"`
}

// Healthy reports whether the stream could be read and has a leader and
// its configured number of current replicas.
func (h StreamHealth) Healthy() bool {
	return h.Error == "" && h.Current >= h.Replicas
}

// Available reports whether the stream accepts writes: it could be read
// and, replicated, has a leader and a quorum of current replicas. A
// leader cut off from its followers keeps its title for a few seconds
// (until the Raft group notices the lost quorum), so the leader alone is
// not enough.
func (h StreamHealth) Available() bool {
	return h.Error == "" && (h.Replicas <= 1 || (h.Leader != "" && h.Current > h.Replicas/2))
}

// Describe says what is wrong with a stream, in plain words: the error
// reading it, a lost leader, or how many of its replicas are current.
func (h StreamHealth) Describe() string {
	_, detail := h.problem()
	return detail
}

// Warning is GET /v1/federation's warning of the stream (meant for one
// that is not Healthy): its code and parameters, and the sentence
// "JetStream <asset>: " followed by Describe's.
func (h StreamHealth) Warning() Warning {
	w, _ := h.problem()
	return w
}

// problem is the stream's Warning and its Describe sentence.
func (h StreamHealth) problem() (Warning, string) {
	w := Warning{Params: map[string]string{"asset": h.Asset}}
	var detail string
	switch {
	case h.Error != "":
		w.Code, w.Params["error"], detail = WarningStreamError, h.Error, h.Error
	case h.Leader == "" && h.Replicas > 1:
		w.Code, detail = WarningStreamNoLeader, "no leader (JetStream quorum lost?)"
	default:
		current, replicas := strconv.Itoa(h.Current), strconv.Itoa(h.Replicas)
		w.Code, w.Params["current"], w.Params["replicas"] = WarningStreamReplicasBehind, current, replicas
		detail = current + " of " + replicas + " replicas current"
	}
	w.Text = "JetStream " + h.Asset + ": " + detail
	return w, detail
}

// Asset names of StreamHealth.
const (
	AssetState       = "state"
	AssetRevocations = "revocations"
	AssetSnapshots   = "snapshots"
)

// ClusterInfo reads the connection's server and the health of the
// federation's streams, the stream-info requests in parallel, each
// bounded by ClusterInfoTimeout. It never fails: what cannot be read is said in
// StreamHealth.Error.
func (c *Conn) ClusterInfo(ctx context.Context) ClusterInfo {
	info := ClusterInfo{Connected: c.nc.IsConnected(), Reconnects: c.stats.reconnects.Load(), At: time.Now()}
	if info.Connected {
		info.Server, info.URL, info.Cluster = c.nc.ConnectedServerName(), withoutUser(c.nc.ConnectedUrl()), c.nc.ConnectedClusterName()
	}
	if c.separateServices() {
		svc := &ServicesConnInfo{Connected: c.svc.IsConnected(), Reconnects: c.stats.svcReconnects.Load()}
		if svc.Connected {
			svc.Server = c.svc.ConnectedServerName()
		}
		info.Services = svc
	}
	assets := []struct{ asset, stream string }{
		{AssetState, "KV_" + c.bucket}, {AssetRevocations, c.stream}, {AssetSnapshots, "OBJ_" + c.writeSnapBucket()}, // accounts mode: its own bucket
	}
	info.Streams = make([]StreamHealth, len(assets))
	var wg sync.WaitGroup
	for i, a := range assets {
		wg.Go(func() { info.Streams[i] = c.streamHealth(ctx, a.asset, a.stream) })
	}
	wg.Wait()
	return info
}

func (c *Conn) streamHealth(ctx context.Context, asset, stream string) StreamHealth {
	h := StreamHealth{Asset: asset, Stream: stream}
	if !c.nc.IsConnected() {
		h.Error = "not connected to NATS"
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, ClusterInfoTimeout)
	defer cancel()
	ctx, done := c.guard(ctx, c.isAPISubject)
	defer done()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		h.Error = explain(ctx, fmt.Errorf("stream info: %w", err)).Error()
		return h
	}
	si := s.CachedInfo()
	h.Replicas = max(si.Config.Replicas, 1)
	if si.Cluster == nil {
		h.Current = 1 // one server: the stream is its own leader
		return h
	}
	h.Leader = si.Cluster.Leader
	if h.Leader != "" {
		h.Current = 1
	}
	for _, p := range si.Cluster.Replicas {
		h.Peers = append(h.Peers, PeerHealth{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag})
		if p.Current && !p.Offline {
			h.Current++
		}
	}
	return h
}

// withoutUser is a URL without its user information.
func withoutUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
