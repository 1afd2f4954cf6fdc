#!/usr/bin/env bash
# kafka.sh runs a real single-node Apache Kafka broker (KRaft, broker and
# controller in one JVM) on 127.0.0.1 for end-to-end tests and CI.
#
#   scripts/kafka.sh start    start it (or find it running); the last line of
#                             stdout is the bootstrap address, e.g. 127.0.0.1:23456
#   scripts/kafka.sh status   print its state; exit 0 if running (paused
#                             included), 3 if not
#   scripts/kafka.sh stop     stop the broker this script started and remove
#                             its run directory
#
# Faults, for tests of what clients do when the broker misbehaves:
#   scripts/kafka.sh pause    freeze the broker's JVM (SIGSTOP): connections stay
#                             open and nothing answers, as in a long GC pause, a
#                             stuck disk or a network partition
#   scripts/kafka.sh resume   let a paused broker run again (SIGCONT)
#   scripts/kafka.sh restart [SECONDS]
#                             stop the broker and start it again on the same
#                             ports with the same data, as in a rolling upgrade,
#                             after SECONDS down (default 0); prints the
#                             bootstrap address last, like start
#
# The broker comes from Maven Central (org.apache.kafka:kafka_2.13 and the
# logging runtime the Kafka tarball would add), not from a tarball: Maven is
# the only route to Kafka that this project's machines have. The jars are
# resolved once into a cache directory; later starts do not run Maven.
# Progress goes to stderr, so `addr=$(scripts/kafka.sh start)` works.
# Linux only: it reads /proc to find free ports and to recognise its process.
#
# Environment:
#   KAFKA_VERSION          broker version (default 4.4.0; 3.9.x works too)
#   KAFKA_CACHE_DIR        jars and resolved classpath
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/receiptd/kafka-$KAFKA_VERSION)
#   KAFKA_RUN_DIR          config, data, logs, pid and state of the running broker
#                          (default ${TMPDIR:-/tmp}/receiptd-kafka)
#   KAFKA_PORT             client port (default: a free port)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default: a free port)
#   KAFKA_TOPIC            source topic, 8 partitions (default message-read)
#   KAFKA_TOPIC_PARTITIONS (default 8)
#   KAFKA_DLQ_TOPIC        dead-letter topic (default message-read-dlq)
#   KAFKA_DLQ_PARTITIONS   (default 3)
#   KAFKA_AUTO_CREATE_TOPICS  broker's auto.create.topics.enable (default false,
#                          as in production: code must not rely on it)
#   KAFKA_HEAP_OPTS        (default "-Xms512m -Xmx1g")
#   KAFKA_JVM_OPTS         extra JVM options for the broker
#   KAFKA_START_TIMEOUT    seconds until the broker must serve requests (default 120)
#   KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL (default 30)
#   KAFKA_KEEP_LOGS        1 keeps $KAFKA_RUN_DIR/logs after stop (default 0)
#   KAFKA_OWNER_PID        a process id: start also starts a watcher that stops
#                          the broker once that process has exited, so that a
#                          test killed before its cleanup leaves no broker behind
#   JAVA_HOME              Java 17+ (Kafka 4.x requires 17)
set -euo pipefail

readonly DEFAULT_KAFKA_VERSION=4.4.0
# Used only when the Kafka POM brings no log4j-core (4.0.x); matches the
# Log4j that the 4.0 tarball ships.
readonly FALLBACK_LOG4J_VERSION=2.24.3
# Kafka 3.9's tarball logs through reload4j (log4j 1.x API).
readonly RELOAD4J_VERSION=1.2.25
readonly DEPENDENCY_PLUGIN_VERSION=3.8.1

KAFKA_VERSION=${KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}
if [[ ! $KAFKA_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "kafka.sh: KAFKA_VERSION=$KAFKA_VERSION is not a release version like 4.4.0" >&2
	exit 2
fi
KAFKA_MAJOR=${KAFKA_VERSION%%.*}
CACHE_DIR=${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/receiptd/kafka-$KAFKA_VERSION}
RUN_DIR=${KAFKA_RUN_DIR:-${TMPDIR:-/tmp}/receiptd-kafka}
# The run directory's path identifies the broker's process (see is_our_broker),
# so it must not depend on the caller's working directory.
[[ $RUN_DIR == /* ]] || RUN_DIR=$PWD/$RUN_DIR
RUN_DIR=${RUN_DIR%/}
TOPIC=${KAFKA_TOPIC:-message-read}
TOPIC_PARTITIONS=${KAFKA_TOPIC_PARTITIONS:-8}
DLQ_TOPIC=${KAFKA_DLQ_TOPIC:-message-read-dlq}
DLQ_PARTITIONS=${KAFKA_DLQ_PARTITIONS:-3}
AUTO_CREATE_TOPICS=${KAFKA_AUTO_CREATE_TOPICS:-false}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-120}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
KEEP_LOGS=${KAFKA_KEEP_LOGS:-0}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
for var in TOPIC_PARTITIONS DLQ_PARTITIONS START_TIMEOUT STOP_TIMEOUT; do
	if [[ ! ${!var} =~ ^[1-9][0-9]*$ ]]; then
		echo "kafka.sh: KAFKA_$var=${!var} is not a positive integer" >&2
		exit 2
	fi
done
for var in KAFKA_PORT KAFKA_CONTROLLER_PORT; do
	if [[ -n ${!var:-} && ! ${!var} =~ ^[1-9][0-9]{0,4}$ ]]; then
		echo "kafka.sh: $var=${!var} is not a port number" >&2
		exit 2
	fi
done
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Files in the run directory.
MARKER=$RUN_DIR/.receiptd-kafka
PID_FILE=$RUN_DIR/kafka.pid
STATE_FILE=$RUN_DIR/state
CONFIG_DIR=$RUN_DIR/config
DATA_DIR=$RUN_DIR/data
LOG_DIR=$RUN_DIR/logs
SERVER_PROPERTIES=$CONFIG_DIR/server.properties

log() { echo "kafka.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# lock_run serialises start and stop on one run directory (fd 9); the lock
# file sits beside the directory so that removing the directory keeps it.
# lock_cache serialises Maven resolution of one version (fd 8).
lock_run() {
	mkdir -p "$(dirname "$RUN_DIR")"
	exec 9>"$RUN_DIR.lock"
	flock -w 600 9 || die "another kafka.sh has held $RUN_DIR.lock for 10 minutes; is it stuck?"
}
lock_cache() {
	mkdir -p "$CACHE_DIR"
	exec 8>"$CACHE_DIR.lock"
	flock -w 1200 8 || die "another kafka.sh has held $CACHE_DIR.lock for 20 minutes; is Maven stuck?"
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"
}

check_java() {
	need "$JAVA" "install Java 17 or newer (Debian: openjdk-17-jre-headless) or set JAVA_HOME"
	local version major
	version=$("$JAVA" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
	major=${version%%.*}
	[[ $major == 1 ]] && major=$(echo "$version" | cut -d. -f2)
	local want=17
	((KAFKA_MAJOR >= 4)) || want=11
	if [[ ! $major =~ ^[0-9]+$ ]] || ((major < want)); then
		die "Kafka $KAFKA_VERSION needs Java $want or newer; $JAVA is ${version:-unknown}"
	fi
}

# ---- runtime resolution (Maven, once per version) ----

write_pom() { # path, extra <dependency> elements
	cat >"$1" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/kafka.sh: the runtime classpath of a Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.receiptd</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
$2
  </dependencies>
  <build><pluginManagement><plugins>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>$DEPENDENCY_PLUGIN_VERSION</version></plugin>
  </plugins></pluginManagement></build>
</project>
EOF
}

dep() { # groupId artifactId version
	printf '    <dependency><groupId>%s</groupId><artifactId>%s</artifactId><version>%s</version></dependency>\n' "$1" "$2" "$3"
}

mvn_run() { # pom, goal and arguments...
	local pom=$1
	shift
	if ! mvn -B -ntp -f "$pom" "$@" >>"$CACHE_DIR/maven.log" 2>&1; then
		tail -n 40 "$CACHE_DIR/maven.log" >&2
		die "Maven could not resolve Kafka $KAFKA_VERSION (full log: $CACHE_DIR/maven.log)"
	fi
}

# version_of prints the version of group:artifact in a dependency:list output.
version_of() { # list file, group:artifact
	grep -o "$2:jar:[^:]*" "$1" | head -n1 | cut -d: -f4 || true
}

runtime_ready() {
	[[ -s $CACHE_DIR/logging && -f $CACHE_DIR/lib/kafka_2.13-$KAFKA_VERSION.jar ]]
}

# resolve_runtime fills $CACHE_DIR/lib with the broker's jars. The Kafka POM
# leaves out the SLF4J binding (and in 4.0 the Log4j core) that the tarball
# adds, so the binding is chosen to match the slf4j-api the POM brings:
# slf4j 1.7 pairs with log4j-slf4j-impl, slf4j 2.x with log4j-slf4j2-impl.
resolve_runtime() {
	runtime_ready && return 0
	lock_cache
	if runtime_ready; then # resolved by a concurrent start
		exec 8>&-
		return 0
	fi
	need mvn "install Maven (Debian: maven); it fetches Kafka from Maven Central"
	local t0=$SECONDS
	log "resolving Kafka $KAFKA_VERSION from Maven Central into $CACHE_DIR (once per version)"
	rm -rf "$CACHE_DIR/probe" "$CACHE_DIR/lib.tmp" "$CACHE_DIR/maven.log"
	mkdir -p "$CACHE_DIR/probe"

	write_pom "$CACHE_DIR/probe/pom.xml" ""
	mvn_run "$CACHE_DIR/probe/pom.xml" dependency:list -DincludeScope=runtime \
		-DoutputFile="$CACHE_DIR/probe/deps.txt" -DappendOutput=false
	local slf4j log4j extra logging
	slf4j=$(version_of "$CACHE_DIR/probe/deps.txt" org.slf4j:slf4j-api)
	log4j=$(version_of "$CACHE_DIR/probe/deps.txt" org.apache.logging.log4j:log4j-core)
	[[ -n $slf4j ]] || die "kafka_2.13:$KAFKA_VERSION brings no slf4j-api; see $CACHE_DIR/probe/deps.txt"

	if ((KAFKA_MAJOR < 4)); then
		logging=reload4j
		extra="$(dep ch.qos.reload4j reload4j "$RELOAD4J_VERSION")
$(dep org.slf4j slf4j-reload4j "$slf4j")"
	else
		logging=log4j2
		log4j=${log4j:-$FALLBACK_LOG4J_VERSION}
		local binding=log4j-slf4j2-impl
		[[ $slf4j == 1.* ]] && binding="log4j-slf4j-impl"
		extra="$(dep org.apache.logging.log4j log4j-api "$log4j")
$(dep org.apache.logging.log4j log4j-core "$log4j")
$(dep org.apache.logging.log4j "$binding" "$log4j")"
	fi
	write_pom "$CACHE_DIR/pom.xml" "$extra"
	mvn_run "$CACHE_DIR/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$CACHE_DIR/lib.tmp"
	rm -rf "${CACHE_DIR:?}/lib"
	mv "$CACHE_DIR/lib.tmp" "$CACHE_DIR/lib"
	# Written last: its presence means the cache is complete.
	echo "$logging" >"$CACHE_DIR/logging"
	log "resolved $(find "$CACHE_DIR/lib" -name '*.jar' | wc -l) jars (slf4j-api $slf4j, logging $logging${log4j:+ $log4j}) in $((SECONDS - t0))s"
	exec 8>&-
}

# ---- ports ----

# port_in_use reports whether any TCP socket uses the port, locally or
# remotely; over-reporting only costs another pick.
port_in_use() {
	grep -qs "$(printf ':%04X ' "$1")" /proc/net/tcp /proc/net/tcp6
}

# pick_port prints a free port below the kernel's ephemeral range, so that no
# outgoing connection takes it between this check and the JVM's bind.
pick_port() { # port to avoid
	local lo hi port
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	hi=$((lo - 1))
	((hi >= 21000)) || hi=29999
	for _ in {1..200}; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % (hi - 20000 + 1)))
		if [[ $port != "${1:-}" ]] && ! port_in_use "$port"; then
			echo "$port"
			return 0
		fi
	done
	die "no free TCP port found in 20000-$hi"
}

# ---- process identity ----

# is_our_broker reports whether pid is the kafka.Kafka JVM of this run
# directory, so that a recycled pid is never signalled.
is_our_broker() {
	local pid=$1 cmdline
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
	[[ $cmdline == *java* && $cmdline == *" kafka.Kafka $SERVER_PROPERTIES"* ]]
}

state_get() { # key
	sed -n "s/^$1=//p" "$STATE_FILE" 2>/dev/null | head -n1
}

running_pid() {
	local pid
	pid=$(cat "$PID_FILE" 2>/dev/null || true)
	is_our_broker "$pid" && echo "$pid"
}

# ---- configuration ----

write_config() { # client port, controller port
	local port=$1 cport=$2
	mkdir -p "$CONFIG_DIR"
	# Static quorum (controller.quorum.voters): `format` then needs no
	# --standalone, and 4.1.1+ rejects --standalone with static voters.
	cat >"$SERVER_PROPERTIES" <<EOF
# Generated by scripts/kafka.sh: single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=$AUTO_CREATE_TOPICS
# One broker: every internal topic has one replica. One offsets partition
# keeps the first group join quick.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Tests join groups constantly; the default 3 s wait for more members only
# slows them down.
group.initial.rebalance.delay.ms=0
# On a busy 2-core machine the broker's heartbeats to its own controller can
# stall for seconds; fencing it would take every partition offline.
broker.session.timeout.ms=30000
# The cleaner's dedupe buffer (128 MiB by default) is allocated on the heap
# at startup; the few compacted internal topics here need little.
log.cleaner.dedupe.buffer.size=33554432
EOF
	if ((KAFKA_MAJOR >= 4)); then
		cat >>"$SERVER_PROPERTIES" <<EOF
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
EOF
	fi

	# The broker logs everything to one file, so an operator has one place
	# to look; the storage tool logs warnings to its console (format.log).
	# Log4j2 for Kafka 4.x, reload4j (log4j 1.x) for 3.x.
	cat >"$CONFIG_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG_DIR/server.log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
	cat >"$CONFIG_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$LOG_DIR/server.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
EOF
	cat >"$CONFIG_DIR/tools-log4j2.properties" <<EOF
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
EOF
	cat >"$CONFIG_DIR/tools-log4j.properties" <<EOF
log4j.rootLogger=WARN, console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.Target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

logging_opts() { # config file prefix: "" for the broker, "tools-" for tools
	if [[ $(cat "$CACHE_DIR/logging") == reload4j ]]; then
		echo "-Dlog4j.configuration=file:$CONFIG_DIR/${1:-}log4j.properties"
	else
		echo "-Dlog4j2.configurationFile=$CONFIG_DIR/${1:-}log4j2.properties"
	fi
}

# new_cluster_id prints a random Kafka Uuid (16 bytes, base64url, no
# padding) without starting a JVM for `StorageTool random-uuid`. Like
# Kafka's own generator it avoids a leading '-', which the tool's argument
# parser would take for an option.
new_cluster_id() {
	local id=-
	while [[ $id == -* ]]; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
	done
	echo "$id"
}

format_storage() {
	rm -rf "$DATA_DIR"
	mkdir -p "$DATA_DIR" "$LOG_DIR"
	# A short-lived tool: C1 only and a small serial heap start fastest.
	if ! "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true \
		"$(logging_opts tools-)" -Dkafka.logs.dir="$LOG_DIR" -cp "$CACHE_DIR/lib/*" \
		kafka.tools.StorageTool format -t "$(new_cluster_id)" -c "$SERVER_PROPERTIES" \
		>"$LOG_DIR/format.log" 2>&1 9>&-; then
		tail -n 30 "$LOG_DIR/format.log" >&2
		die "formatting $DATA_DIR failed (log: $LOG_DIR/format.log)"
	fi
}

launch_broker() {
	local heap extra
	read -r -a heap <<<"$HEAP_OPTS"
	read -r -a extra <<<"${KAFKA_JVM_OPTS:-}"
	# setsid: the broker outlives this script and gets no signal meant for the
	# caller's terminal or process group; only `stop` ends it. fd 9 (the lock)
	# is closed so the JVM does not hold the lock after start returns.
	# GC flags are those of Kafka's own kafka-run-class.sh; no JMX port.
	# ExitOnOutOfMemoryError: a broker that ran out of heap dies visibly
	# instead of hanging the tests.
	setsid "$JAVA" "${heap[@]}" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
		-XX:+ExitOnOutOfMemoryError -Xshare:auto -Djava.awt.headless=true \
		"$(logging_opts)" -Dkafka.logs.dir="$LOG_DIR" "${extra[@]}" \
		-cp "$CACHE_DIR/lib/*" kafka.Kafka "$SERVER_PROPERTIES" \
		</dev/null >"$LOG_DIR/stdout.log" 2>&1 9>&- &
	BROKER_PID=$!
	echo "$BROKER_PID" >"$PID_FILE"
	# $! is a forked shell until it has exec'd setsid and then java; wait for
	# that, so that is_our_broker recognises the JVM from here on.
	local state
	for _ in {1..100}; do
		is_our_broker "$BROKER_PID" && return 0
		state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$BROKER_PID/status" 2>/dev/null || true)
		[[ -n $state && $state != Z ]] || return 0 # exited; the caller reports it
		sleep 0.05
	done
}

print_log_tail() {
	local f
	for f in "$LOG_DIR/stdout.log" "$LOG_DIR/server.log"; do
		[[ -s $f ]] || continue
		echo "----- last lines of $f -----" >&2
		tail -n 40 "$f" >&2
	done
}

# wait_until_ready returns 0 once the broker serves requests, 1 if the JVM
# exited, 2 if it was not ready by the deadline. Two steps: a TCP accept
# (Kafka opens the client listener only once the broker is unfenced), then
# the Go tool, which creates the topics and waits for partition leaders and
# the group coordinator. The JVM is watched throughout, because an accept
# alone does not prove the listener is the broker's: another process may
# hold the port while the JVM dies on "Address already in use".
wait_until_ready() { # port, deadline (in $SECONDS)
	local port=$1 deadline=$2 t0=$SECONDS
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		is_our_broker "$BROKER_PID" || return 1
		((SECONDS < deadline)) || return 2
		sleep 0.2
	done
	log "port $port accepts connections after $((SECONDS - t0))s; creating topics"

	local remaining=$((deadline - SECONDS)) tool rc=0
	((remaining > 5)) || remaining=5
	"$RUN_DIR/bin/kafkatopics" -bootstrap "127.0.0.1:$port" -timeout "${remaining}s" \
		-topic "$TOPIC:$TOPIC_PARTITIONS" -topic "$DLQ_TOPIC:$DLQ_PARTITIONS" 8>&- 9>&- &
	tool=$!
	while kill -0 "$tool" 2>/dev/null; do
		if ! is_our_broker "$BROKER_PID"; then
			kill "$tool" 2>/dev/null || true
			wait "$tool" 2>/dev/null || true
			return 1
		fi
		sleep 0.2
	done
	wait "$tool" || rc=$?
	((rc == 0)) || return 2
}

write_state() { # client port, controller port
	cat >"$STATE_FILE" <<EOF
status=running
version=$KAFKA_VERSION
pid=$BROKER_PID
address=127.0.0.1:$1
controller_port=$2
topics=$TOPIC:$TOPIC_PARTITIONS,$DLQ_TOPIC:$DLQ_PARTITIONS
log=$LOG_DIR/server.log
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
}

kill_broker() { # pid
	local pid=$1
	is_our_broker "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	# A paused broker acts on SIGTERM only once it runs again.
	kill -CONT "$pid" 2>/dev/null || true
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while is_our_broker "$pid" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if is_our_broker "$pid"; then
		log "broker (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 10))
		while is_our_broker "$pid" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		! is_our_broker "$pid" || die "broker (pid $pid) survived SIGKILL"
	fi
}

# clean_run_dir removes a run directory that this script created, and
# refuses anything else: KAFKA_RUN_DIR might point at a directory of value.
clean_run_dir() {
	[[ -e $RUN_DIR ]] || return 0
	if [[ ! -f $MARKER ]]; then
		if [[ -d $RUN_DIR && -z $(ls -A "$RUN_DIR") ]]; then
			return 0
		fi
		die "$RUN_DIR exists and was not made by kafka.sh; remove it or set KAFKA_RUN_DIR"
	fi
	if [[ $KEEP_LOGS == 1 ]]; then
		find "$RUN_DIR" -mindepth 1 -maxdepth 1 ! -name logs ! -name .receiptd-kafka -exec rm -rf {} +
	else
		rm -rf "$RUN_DIR"
	fi
}

build_topic_tool() {
	need go "the readiness check is a Go program (scripts/kafkatopics)"
	mkdir -p "$RUN_DIR/bin"
	if ! (cd "$REPO_ROOT" && go build -o "$RUN_DIR/bin/kafkatopics" ./scripts/kafkatopics) \
		>"$LOG_DIR/kafkatopics-build.log" 2>&1 9>&-; then
		cat "$LOG_DIR/kafkatopics-build.log" >&2
		return 1
	fi
}

# ---- commands ----

cmd_start() {
	lock_run
	local pid
	if pid=$(running_pid); then
		if [[ $(state_get status) == running ]]; then
			log "already running (pid $pid, Kafka $(state_get version)); log: $LOG_DIR/server.log"
			state_get address
			return 0
		fi
		# A start that was killed before it finished left its JVM behind.
		log "found a broker (pid $pid) whose start never finished; replacing it"
		kill_broker "$pid"
	fi
	check_java
	resolve_runtime
	clean_run_dir
	mkdir -p "$RUN_DIR" "$LOG_DIR"
	touch "$MARKER"

	# Built first, so that its compile time (long on a cold Go build cache)
	# does not count against the broker's start timeout.
	local tb=$SECONDS
	build_topic_tool || die "building scripts/kafkatopics failed"
	log "built the readiness check (scripts/kafkatopics) in $((SECONDS - tb))s"

	local t0=$SECONDS deadline=$((SECONDS + START_TIMEOUT)) port cport attempt rc
	for attempt in 1 2 3; do
		port=${KAFKA_PORT:-$(pick_port)}
		cport=${KAFKA_CONTROLLER_PORT:-$(pick_port "$port")}
		if port_in_use "$port" || port_in_use "$cport"; then
			die "port $port or $cport is already in use (KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
		fi
		write_config "$port" "$cport"
		: >"$LOG_DIR/server.log"
		format_storage
		printf 'status=starting\nversion=%s\n' "$KAFKA_VERSION" >"$STATE_FILE"
		launch_broker
		# An interrupted start must not leave a broker nobody knows the address of.
		trap 'kill_broker "$BROKER_PID"; exit 130' INT TERM
		log "started Kafka $KAFKA_VERSION (pid $BROKER_PID) on 127.0.0.1:$port, controller :$cport; log: $LOG_DIR/server.log"
		rc=0
		wait_until_ready "$port" "$deadline" || rc=$?
		((rc == 0)) && break
		if ((rc == 1)) && [[ -z ${KAFKA_PORT:-}${KAFKA_CONTROLLER_PORT:-} ]] &&
			grep -qs 'Address already in use' "$LOG_DIR/server.log" "$LOG_DIR/stdout.log" && ((attempt < 3)); then
			log "port $port or $cport was taken meanwhile; trying other ports"
			continue
		fi
		print_log_tail
		kill_broker "$BROKER_PID"
		if ((rc == 1)); then
			die "the broker exited during startup (logs above; run dir kept: $RUN_DIR)"
		fi
		die "the broker was not ready within ${START_TIMEOUT}s (logs above; run dir kept: $RUN_DIR)"
	done

	trap - INT TERM
	write_state "$port" "$cport"
	watch_owner
	log "ready in $((SECONDS - t0))s: Kafka $KAFKA_VERSION at 127.0.0.1:$port, topics $TOPIC ($TOPIC_PARTITIONS partitions) and $DLQ_TOPIC ($DLQ_PARTITIONS)"
	echo "127.0.0.1:$port"
}

# watch_owner starts, when KAFKA_OWNER_PID is set, a detached watcher that
# stops the broker once that process has exited; it ends by itself when the
# run directory goes (a stop).
watch_owner() {
	[[ -n ${KAFKA_OWNER_PID:-} ]] || return 0
	[[ $KAFKA_OWNER_PID =~ ^[0-9]+$ ]] || die "KAFKA_OWNER_PID=$KAFKA_OWNER_PID is not a process id"
	# shellcheck disable=SC2016 # expanded by the watcher's shell
	setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -e $2 ]]; do sleep 1; done
		[[ -e $2 ]] && KAFKA_RUN_DIR="$3" exec "$4" stop' \
		kafka-owner-watch "$KAFKA_OWNER_PID" "$MARKER" "$RUN_DIR" "$REPO_ROOT/scripts/kafka.sh" \
		</dev/null >>"$LOG_DIR/owner-watch.log" 2>&1 8>&- 9>&- &
	log "the broker stops when process $KAFKA_OWNER_PID exits"
}

cmd_stop() {
	lock_run
	local pid
	pid=$(cat "$PID_FILE" 2>/dev/null || true)
	if [[ -z $pid ]]; then
		log "not running"
	elif is_our_broker "$pid"; then
		log "stopping Kafka (pid $pid)"
		local t0=$SECONDS
		kill_broker "$pid"
		log "stopped in $((SECONDS - t0))s"
	else
		log "pid $pid from $PID_FILE is not this broker any more; nothing to signal"
	fi
	clean_run_dir
	[[ $KEEP_LOGS == 1 && -d $LOG_DIR ]] && log "logs kept in $LOG_DIR"
	return 0
}

# process_state prints the one-letter state of pid (R, S, T for stopped...).
process_state() { # pid
	sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null || true
}

# running_or_die prints the pid of a broker that finished starting, or dies.
running_or_die() { # command name
	local pid
	pid=$(running_pid) || die "$1: no broker of $RUN_DIR is running (start it first)"
	[[ $(state_get status) == running ]] || die "$1: the broker (pid $pid) has not finished starting"
	echo "$pid"
}

cmd_pause() {
	lock_run
	local pid
	pid=$(running_or_die pause)
	kill -STOP "$pid"
	# SIGSTOP takes effect asynchronously; return only once the JVM is frozen.
	for _ in {1..100}; do
		[[ $(process_state "$pid") == T ]] && break
		sleep 0.02
	done
	[[ $(process_state "$pid") == T ]] || die "pause: the broker (pid $pid) did not stop"
	log "paused Kafka (pid $pid, SIGSTOP): it accepts connections but answers nothing until resume"
}

cmd_resume() {
	lock_run
	local pid
	pid=$(running_or_die resume)
	kill -CONT "$pid"
	log "resumed Kafka (pid $pid, SIGCONT)"
	state_get address
}

cmd_restart() { # [seconds down]
	local down=${1:-0}
	[[ $down =~ ^[0-9]+$ ]] || die "restart: $down is not a number of seconds"
	lock_run
	local pid port cport t0=$SECONDS
	pid=$(running_or_die restart)
	port=$(state_get address)
	port=${port##*:}
	cport=$(state_get controller_port)
	log "restarting Kafka (pid $pid) on 127.0.0.1:$port with its data"
	kill_broker "$pid"
	if ((down > 0)); then
		log "stopped in $((SECONDS - t0))s; starting again in ${down}s"
		sleep "$down"
	fi
	check_java
	printf 'status=starting\nversion=%s\n' "$KAFKA_VERSION" >"$STATE_FILE"
	launch_broker
	trap 'kill_broker "$BROKER_PID"; exit 130' INT TERM
	local rc=0
	wait_until_ready "$port" $((SECONDS + START_TIMEOUT)) || rc=$?
	if ((rc != 0)); then
		print_log_tail
		kill_broker "$BROKER_PID"
		die "the broker did not come back on port $port (logs above; run dir kept: $RUN_DIR)"
	fi
	trap - INT TERM
	write_state "$port" "$cport"
	log "restarted in $((SECONDS - t0))s: Kafka $KAFKA_VERSION at 127.0.0.1:$port (pid $BROKER_PID)"
	echo "127.0.0.1:$port"
}

cmd_status() {
	local pid
	if pid=$(running_pid); then
		if [[ $(state_get status) != running ]]; then
			echo "starting: Kafka $(state_get version), pid $pid, not serving yet; log: $LOG_DIR/server.log"
			return 3
		fi
		local state=running
		[[ $(process_state "$pid") == T ]] && state="paused (resume it with: $0 resume)"
		echo "running: Kafka $(state_get version), pid $pid, started $(state_get started); $state"
		echo "log: $LOG_DIR/server.log"
		state_get address
		return 0
	fi
	pid=$(cat "$PID_FILE" 2>/dev/null || true)
	if [[ -n $pid ]]; then
		echo "not running: broker pid $pid has exited; log: $LOG_DIR/server.log"
	else
		echo "not running"
	fi
	return 3
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
pause) cmd_pause ;;
resume) cmd_resume ;;
restart) cmd_restart "${2:-}" ;;
*)
	echo "usage: $0 start|stop|status|pause|resume|restart   (environment: see the top of $0)" >&2
	exit 2
	;;
esac
