using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>Outputs never replace what is not a regular file, and leave nothing behind when the disk fills (run as root, as ./test.sh is).</summary>
public sealed class OutputSafetyTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Kind(string path) => Must("stat", "-c", "%F", path).Trim();

    [Fact]
    public void A_fifo_or_a_device_at_the_destination_is_refused_and_left_as_it_is()
    {
        Must("mkfifo", _dir["fifo"]);
        Must("mknod", _dir["null"], "c", "1", "3");
        foreach (var (name, kind, says) in new[] { ("fifo", "fifo", "it is a FIFO"), ("null", "character special file", "it is a character device") })
        {
            var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir[name]}");
            r.Code.Should().Be(1, r.ToString());
            r.Stderr.Should().Contain(says).And.Contain("not a regular file");
            Kind(_dir[name]).Should().Be(kind);
        }
        Directory.GetFiles(_dir.Path, "*.partial", new EnumerationOptions { AttributesToSkip = 0 }).Should().BeEmpty();
    }

    [Fact]
    public void A_symlink_at_the_destination_is_followed_and_stays_a_symlink()
    {
        Directory.CreateDirectory(_dir["real"]);
        File.WriteAllText(_dir["real/image.tar"], "old");
        File.CreateSymbolicLink(_dir["link.tar"], _dir["real/image.tar"]);
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["link.tar"]}").Code.Should().Be(0);
        Kind(_dir["link.tar"]).Should().Be("symbolic link");
        new FileInfo(_dir["real/image.tar"]).Length.Should().BeGreaterThan(1000);
        File.CreateSymbolicLink(_dir["to-fifo"], _dir["fifo2"]);
        Must("mkfifo", _dir["fifo2"]);
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["to-fifo"]}").Stderr.Should().Contain("FIFO");
        Kind(_dir["fifo2"]).Should().Be("fifo");
    }

    [Fact]
    public void A_full_disk_fails_with_one_line_and_leaves_no_partial_file()
    {
        string small = _dir["small"];
        Directory.CreateDirectory(small);
        Must("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small);
        try
        {
            Archives.Random(_dir["big.tar"], "x/big:1", 900_000);
            var r = Occy("process", $"tar://{_dir["big.tar"]}", $"tar://{small}/out.tar");
            r.Code.Should().Be(1, r.ToString());
            r.Stderr.Trim().Split('\n').Where(l => l.Contains("error:")).Should().ContainSingle().Which.Should().Contain("No space left");
            Directory.GetFileSystemEntries(small).Should().BeEmpty("the partial archive is removed");
        }
        finally
        {
            Must("umount", small);
        }
    }

    [Fact]
    public void A_layer_cache_path_that_is_a_folder_is_a_usage_error_that_writes_nothing()
    {
        Directory.CreateDirectory(_dir["cache"]);
        var r = Occy("--layer-cache", _dir["cache"], "process", $"tar://{SampleImage}", $"tar://{_dir["out.tar"]}");
        r.Code.Should().Be(2, r.ToString());
        r.Stderr.Should().Contain("is a folder; give the path of a JSON file");
        Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Should().Equal("cache");
        Directory.GetFileSystemEntries(_dir["cache"]).Should().BeEmpty();
    }
}
