using Occystrap.Host.Plugins;

namespace Occystrap.UnitTests;

/// <summary>The plugin index answers for an unchanged assembly and reads a changed one again.</summary>
[Collection("process environment")]
public sealed class PluginIndexTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void An_unchanged_assembly_is_answered_from_the_index_and_a_touched_one_is_read_again()
    {
        string dll = Path.Combine(_dir.Path, "Some.Plugin.dll");
        File.Copy(typeof(PluginIndexTests).Assembly.Location, dll);
        string? before = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        Environment.SetEnvironmentVariable("XDG_CACHE_HOME", Path.Combine(_dir.Path, "cache"));
        try
        {
            var first = PluginIndex.Open();
            Assert.Empty(first.Read(dll)); // the test assembly declares no plugin
            first.Save();
            string index = Path.Combine(_dir.Path, "cache", "occystrap", "plugin-index");
            var lines = File.ReadAllLines(index);
            Assert.Equal("occystrap plugin index 1", lines[0]);
            // Proof that the index is what answers: a declaration written into it comes back for the same size and time.
            File.WriteAllLines(index, [lines[0], lines[1] + "\tFilter\tforged\tSome.Type"]);
            var second = PluginIndex.Open().Read(dll);
            Assert.Equal(new PluginDeclaration(PluginRole.Filter, "forged", "Some.Type", dll), Assert.Single(second));
            // A new modification time makes it read the assembly again.
            File.SetLastWriteTimeUtc(dll, DateTime.UtcNow.AddMinutes(-5));
            Assert.Empty(PluginIndex.Open().Read(dll));
        }
        finally
        {
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", before);
        }
    }

    [Fact]
    public void The_shared_set_follows_references_through_the_files_beside_the_host_and_stops_at_what_is_not_there()
    {
        // A host folder holding the toolkit, the contracts and the zstd library, but not System.IO.Hashing or the framework.
        string bin = Path.GetDirectoryName(typeof(Occystrap.Formats.Tar.TarArchiveReader).Assembly.Location)!;
        foreach (var name in new[] { "Occystrap.Formats.dll", "Occystrap.Abstractions.dll", "ZstdSharp.dll" })
            File.Copy(Path.Combine(bin, name), Path.Combine(_dir.Path, name));
        var names = PluginLoadContext.SharedNames([typeof(Occystrap.Formats.Tar.TarArchiveReader).Assembly], _dir.Path);
        Assert.Equal(["Occystrap.Abstractions", "Occystrap.Formats", "ZstdSharp"], names.Order(StringComparer.Ordinal));
        // Beside the real host, the framework's assemblies the toolkit reads through are shared as well.
        Assert.Contains("System.IO.Hashing", PluginLoadContext.SharedNames([typeof(Occystrap.Formats.Tar.TarArchiveReader).Assembly], bin));
    }
}
