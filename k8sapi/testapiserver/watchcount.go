package testapiserver

// OpenWatches returns how many watch streams are open: a test can check
// that its clients share their watches.
func (s *Server) OpenWatches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}
