# Sourced by ./hsr and ./run-tests: sets HSR_JAVA_HOME to a JDK 25 or newer, or exits with one line saying what to do.
# Order: $JAVA_HOME if it is 25+, then /usr/lib/jvm/temurin-25* (newest first).
hsr_java_major() { # prints the feature version of the JDK at $1, or nothing
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
HSR_JAVA_HOME=""
if [ -n "${JAVA_HOME:-}" ]; then
  v=$(hsr_java_major "$JAVA_HOME")
  if [ -n "$v" ] && [ "$v" -ge 25 ]; then HSR_JAVA_HOME="$JAVA_HOME"; fi
fi
if [ -z "$HSR_JAVA_HOME" ]; then
  for cand in $(ls -d /usr/lib/jvm/temurin-25* /usr/lib/jvm/temurin-2[6-9]* 2>/dev/null | sort -r); do
    v=$(hsr_java_major "$cand")
    if [ -n "$v" ] && [ "$v" -ge 25 ]; then HSR_JAVA_HOME="$cand"; break; fi
  done
fi
if [ -z "$HSR_JAVA_HOME" ]; then
  echo "hsr: error: JDK 25 or newer not found (JAVA_HOME=${JAVA_HOME:-unset}, nothing in /usr/lib/jvm/temurin-25*); install Temurin 25 (apt-get install temurin-25-jdk) or set JAVA_HOME to a JDK 25" >&2
  exit 1
fi
export JAVA_HOME="$HSR_JAVA_HOME"
export PATH="$JAVA_HOME/bin:$PATH"
if ! command -v mvn >/dev/null 2>&1; then
  echo "hsr: error: Maven (mvn) not found on PATH; install Maven 3.8+ (apt-get install maven)" >&2
  exit 1
fi
