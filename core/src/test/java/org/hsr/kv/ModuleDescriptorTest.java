package org.hsr.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The core's module descriptor exports exactly the API packages; the kernels stay internal. */
class ModuleDescriptorTest {

    @Test
    void exportsOnlyTheApiPackages() throws Exception {
        ModuleDescriptor md;
        try (InputStream in = Files.newInputStream(Path.of("target", "classes", "module-info.class"))) {
            md = ModuleDescriptor.read(in);
        }
        assertEquals("org.hsr.core", md.name());
        Set<String> exported = md.exports().stream().map(ModuleDescriptor.Exports::source)
                .collect(Collectors.toCollection(TreeSet::new));
        assertEquals(new TreeSet<>(Set.of("org.hsr.kv", "org.hsr.store", "org.hsr.index", "org.hsr.attention",
                "org.hsr.attention.baseline", "org.hsr.io", "org.hsr.vector")), exported);
        assertTrue(Files.isDirectory(Path.of("target", "classes", "org", "hsr", "simd", "panama")),
                "the kernel packages are part of the module, just not exported");
        // the Vector API is optional: without it the scalar kernels run
        assertTrue(md.requires().stream().anyMatch(r -> r.name().equals("jdk.incubator.vector")
                && r.modifiers().contains(ModuleDescriptor.Requires.Modifier.STATIC)), md.requires().toString());
    }
}
