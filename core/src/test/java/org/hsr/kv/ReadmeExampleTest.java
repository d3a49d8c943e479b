package org.hsr.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's first ```java block is a complete program: compiled against the core classes, run, its output checked. */
class ReadmeExampleTest {

    @Test
    void readmeExampleCompilesRunsAndAgreesWithDense(@TempDir Path dir) throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher block = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(block.find(), "README.md has no ```java block");
        String source = block.group(1);
        Matcher cls = Pattern.compile("public class (\\w+)").matcher(source);
        assertTrue(cls.find(), "the example has no public class");
        Path file = dir.resolve(cls.group(1) + ".java");
        Files.writeString(file, source);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, null, diagnostics, "-cp", System.getProperty("java.class.path"), "-d", dir.toString(),
                file.toString());
        assertEquals(0, rc, "javac: " + diagnostics.toString(StandardCharsets.UTF_8));

        PrintStream saved = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            Method main = loader.loadClass(cls.group(1)).getMethod("main", String[].class);
            main.invoke(null, (Object) new String[0]);
        } finally {
            System.setOut(saved);
        }
        checkOutput(printed.toString(StandardCharsets.UTF_8).lines().toList());
    }

    /**
     * The same program against the core as a named module ({@code --module-path target/classes}): it compiles and
     * runs with only the exported packages, in a JVM of its own (the test JVM runs the core on the class path).
     */
    @Test
    void readmeExampleRunsOnTheModulePath(@TempDir Path dir) throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher block = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(block.find(), "README.md has no ```java block");
        Matcher cls = Pattern.compile("public class (\\w+)").matcher(block.group(1));
        assertTrue(cls.find(), "the example has no public class");
        Path file = dir.resolve(cls.group(1) + ".java");
        Files.writeString(file, block.group(1));
        String modules = Path.of("target", "classes").toAbsolutePath().toString();
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, null, diagnostics, "--module-path", modules, "--add-modules", "org.hsr.core", "-d",
                dir.toString(), file.toString());
        assertEquals(0, rc, "javac: " + diagnostics.toString(StandardCharsets.UTF_8));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "--module-path", modules, "--add-modules",
                "org.hsr.core,jdk.incubator.vector", "-cp", dir.toString(), cls.group(1)).redirectErrorStream(false)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "exit code; stderr: " + err);
        assertTrue(err.lines().noneMatch(l -> l.contains("Exception") || l.contains("Error")), err);
        checkOutput(out.lines().toList());
    }

    private static void checkOutput(List<String> lines) {
        assertEquals(2, lines.size(), "output: " + lines);
        Matcher m = Pattern.compile("positions 4500, kept ([0-9.]+)% of keys, cache ([0-9.]+) MB, max \\|hsr - dense\\| "
                + "([0-9.e+-]+)").matcher(lines.get(0));
        assertTrue(m.matches(), lines.get(0));
        double kept = Double.parseDouble(m.group(1)), diff = Double.parseDouble(m.group(3));
        assertTrue(kept > 0.5 && kept < 50, "kept " + kept + "%");
        assertTrue(diff < 1e-4, "hsr and dense differ by " + diff); // both within ~1e-5 of float64 on outputs ~1
        assertEquals("after truncate: 4490 positions", lines.get(1));
    }
}
