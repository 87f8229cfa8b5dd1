using static Occystrap.IntegrationTests.Tooling;

namespace Occystrap.IntegrationTests;

/// <summary>Outputs never replace what is not a regular file, and leave nothing behind when the disk fills (run as root, as ./test.sh is).</summary>
public sealed class OutputSafetyTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string Kind(string path) => Must("stat", "-c", "%F", path).Trim();

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    [Fact]
    public void Standard_output_a_fifo_and_a_device_are_written_as_streams_with_the_same_bytes_as_a_file()
    {
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["file.tar"]}").Code.Should().Be(0);
        byte[] expected = File.ReadAllBytes(_dir["file.tar"]);

        // tar://- is standard output, and nothing else is printed there.
        Must("sh", "-c", $"{Quote(Tooling.Occystrap)} process tar://{Quote(SampleImage)} tar://- > {Quote(_dir["stdout.tar"])}");
        File.ReadAllBytes(_dir["stdout.tar"]).Should().Equal(expected);

        // A FIFO is written to, not renamed over: a reader at its other end gets the archive.
        Must("mkfifo", _dir["fifo"]);
        Must("sh", "-c", $"cat {Quote(_dir["fifo"])} > {Quote(_dir["from-fifo.tar"])} & "
            + $"{Quote(Tooling.Occystrap)} process tar://{Quote(SampleImage)} tar://{Quote(_dir["fifo"])}; code=$?; wait; exit $code");
        File.ReadAllBytes(_dir["from-fifo.tar"]).Should().Equal(expected);
        Kind(_dir["fifo"]).Should().Be("fifo");

        // A character device (here a private /dev/null) stays the device it is.
        Must("mknod", _dir["null"], "c", "1", "3");
        var r = Occy("process", $"tar://{SampleImage}", $"tar://{_dir["null"]}");
        r.Code.Should().Be(0, r.ToString());
        Kind(_dir["null"]).Should().Be("character special file");
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

        // A symlink to a device is written through, as the device itself would be.
        Must("mknod", _dir["null"], "c", "1", "3");
        File.CreateSymbolicLink(_dir["to-null"], _dir["null"]);
        Occy("process", $"tar://{SampleImage}", $"tar://{_dir["to-null"]}").Code.Should().Be(0);
        Kind(_dir["null"]).Should().Be("character special file");
        Kind(_dir["to-null"]).Should().Be("symbolic link");
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
