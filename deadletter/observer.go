package deadletter

// Observer receives the Writer's events, for logs and metrics. Methods are
// called synchronously from the goroutine that writes, and must return
// quickly. Embed NopObserver to implement only some of them.
type Observer interface {
	// WriteFailed: a dead-letter write failed; the caller retries it.
	WriteFailed(WriteFailed)
	// LimitLearned: the writer learned the dead-letter topic's size limit,
	// before its first write or after the brokers refused a record as too
	// large.
	LimitLearned(LimitLearned)
	// Truncated: a dead letter was cut to fit the dead-letter topic, and
	// written.
	Truncated(Truncated)
}

// WriteFailed describes a failed dead-letter write.
type WriteFailed struct {
	Topic   string // the dead-letter topic
	Records int
	Err     error
}

// LimitLearned describes the dead-letter topic's size limit, as the writer
// learned it.
type LimitLearned struct {
	Topic           string
	MaxMessageBytes int
	From            string // LimitFromTopic, LimitFromConfig or LimitFromDefault
	Err             error  // for LimitFromDefault: why the topic's own limit could not be read
}

// Truncated describes a dead letter cut to fit the dead-letter topic.
type Truncated struct {
	Topic           string // the dead-letter topic
	MaxMessageBytes int    // its limit
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	Cut             []string // what was cut: value, then headers (the source's own), then key
	LetterBytes     int      // the letter's size before cutting, as a record batch of its own
	WrittenBytes    int      // its size as written
}

// NopObserver ignores every event.
type NopObserver struct{}

func (NopObserver) WriteFailed(WriteFailed)   {}
func (NopObserver) LimitLearned(LimitLearned) {}
func (NopObserver) Truncated(Truncated)       {}
