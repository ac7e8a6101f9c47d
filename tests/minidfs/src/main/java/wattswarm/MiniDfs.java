package wattswarm;

import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

import sun.misc.Signal;

/**
 * A real HDFS for wattswarm's tests: Apache Hadoop's MiniDFSCluster (one NameNode, N
 * DataNodes, all in this JVM), bound to 127.0.0.1 only.
 *
 * <pre>
 *   MiniDfs --dir DIR [--port P] [--datanodes N] [--block-size BYTES] [--conf KEY=VALUE]...
 *           [--ignore-stdin]
 * </pre>
 *
 * Protocol: once the cluster is active (DataNodes registered, safe mode left) exactly one
 * line, {@code READY hdfs://127.0.0.1:PORT}, is printed to stdout; nothing else is ever
 * written there (logs go to stderr). The cluster shuts down and the process exits 0 when
 * stdin reaches EOF (so a parent that dies takes it along) or on SIGTERM/SIGINT. With
 * {@code --ignore-stdin} only a signal stops it. Logs (WARN and up) go to stderr.
 */
public final class MiniDfs {
  private static final String USAGE =
      "usage: MiniDfs --dir DIR [--port P (0 = any free port)] [--datanodes N (1)]"
          + " [--block-size BYTES (16777216)] [--conf KEY=VALUE (any Hadoop key; repeatable)]"
          + " [--ignore-stdin]";

  private static MiniDFSCluster cluster;
  private static final CountDownLatch stop = new CountDownLatch(1);
  private static boolean up; // guarded by MiniDfs.class

  public static void main(String[] args) throws Exception {
    // Keep stdout for the READY line alone: anything in Hadoop that prints goes to stderr.
    PrintStream ready =
        new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    System.setOut(System.err);

    String dir = null;
    int port = 0;
    int datanodes = 1;
    long blockSize = 16L << 20;
    boolean watchStdin = true;
    java.util.List<String[]> extra = new java.util.ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      switch (a) {
        case "--dir": dir = value(args, ++i, a); break;
        case "--port": port = (int) number(args, ++i, a); break;
        case "--datanodes": datanodes = (int) number(args, ++i, a); break;
        case "--block-size": blockSize = number(args, ++i, a); break;
        case "--conf": {
          String kv = value(args, ++i, a);
          int eq = kv.indexOf('=');
          if (eq <= 0) die("--conf takes KEY=VALUE, not " + kv);
          extra.add(new String[] {kv.substring(0, eq), kv.substring(eq + 1)});
          break;
        }
        case "--ignore-stdin": watchStdin = false; break;
        case "-h": case "--help": System.err.println(USAGE); System.exit(0); break;
        default: die("unknown argument " + a);
      }
    }
    if (dir == null) die("--dir is required");
    if (port < 0 || port > 65535) die("--port must be 0..65535");
    if (datanodes < 1 || datanodes > 16) die("--datanodes must be 1..16");
    // HDFS wants a multiple of the 512-byte checksum chunk (dfs.bytes-per-checksum).
    if (blockSize < 512 || blockSize % 512 != 0) die("--block-size must be a multiple of 512");
    File base = new File(dir).getAbsoluteFile();
    if (!base.isDirectory() && !base.mkdirs()) die("cannot create " + base);

    Configuration conf = new HdfsConfiguration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.getPath());
    conf.setLong("dfs.blocksize", blockSize);
    // The NameNode refuses blocks under 1 MiB by default; tests may want many small blocks.
    conf.setLong("dfs.namenode.fs-limits.min-block-size", Math.min(blockSize, 1L << 20));
    conf.setInt("dfs.replication", Math.min(3, datanodes));
    conf.setBoolean("dfs.permissions.enabled", false);
    // Everything on the loopback; every port but the NameNode's RPC one ephemeral.
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    conf.set("dfs.namenode.https-address", "127.0.0.1:0");
    conf.set("dfs.namenode.secondary.http-address", "127.0.0.1:0");
    conf.set("dfs.namenode.secondary.https-address", "127.0.0.1:0");
    for (String k : new String[] {"rpc", "servicerpc", "lifeline.rpc", "http", "https"}) {
      conf.set("dfs.namenode." + k + "-bind-host", "127.0.0.1");
    }
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.https.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    // DataNodes register (and are handed to clients) as 127.0.0.1, whatever the host is called.
    conf.set("dfs.datanode.hostname", "127.0.0.1");
    conf.setBoolean("dfs.client.use.datanode.hostname", false);
    conf.setBoolean("dfs.datanode.use.datanode.hostname", false);
    // Tests churn files quickly; don't let a slow disk check or the trash keep anything.
    conf.setLong("fs.trash.interval", 0);
    conf.setBoolean("dfs.namenode.name.dir.restore", false);
    // Anything else a benchmark or test wants to try (e.g. io.file.buffer.size, the size of
    // the packets a DataNode sends): set last, so it wins.
    for (String[] kv : extra) conf.set(kv[0], kv[1]);

    // Stop on SIGTERM/SIGINT/SIGHUP or stdin EOF by shutting the cluster down from an ordinary
    // thread first: shutting it down from inside a JVM shutdown hook makes Hadoop's own
    // ShutdownHookManager throw "Shutdown in progress". The JVM hook is only a fallback.
    for (String sig : new String[] {"TERM", "INT", "HUP"}) {
      try {
        Signal.handle(new Signal(sig), s -> requestStop());
      } catch (IllegalArgumentException e) {
        // signal not available here; the shutdown hook covers it
      }
    }
    Runtime.getRuntime().addShutdownHook(new Thread(MiniDfs::shutdown, "minidfs-shutdown-hook"));
    if (watchStdin) {
      Thread eof = new Thread(() -> {
        waitForEof(System.in);
        synchronized (MiniDfs.class) {
          if (!up) {
            System.err.println("minidfs: stdin reached EOF before the cluster was up; exiting"
                + " (keep a pipe open on stdin, or pass --ignore-stdin)");
          }
        }
        requestStop();
      }, "minidfs-stdin");
      eof.setDaemon(true);
      eof.start();
    }

    try {
      startCluster(conf, base, port, datanodes);
    } catch (Throwable t) {
      System.err.println("minidfs: could not start the cluster:");
      t.printStackTrace();
      Runtime.getRuntime().halt(1); // Hadoop's non-daemon threads would keep a plain exit waiting
    }

    synchronized (MiniDfs.class) {
      if (stop.getCount() == 0) return; // asked to stop while starting: exiting already
      ready.println("READY hdfs://127.0.0.1:" + cluster.getNameNodePort());
      ready.flush();
      up = true;
    }

    stop.await();

    // Should shutting down hang, don't linger: the parent is gone or wants us gone.
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep(30_000);
      } catch (InterruptedException e) {
        return;
      }
      System.err.println("minidfs: shutdown took over 30 s, halting");
      Runtime.getRuntime().halt(1);
    }, "minidfs-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    String level = System.getProperty("minidfs.log.level", "WARN").toUpperCase();
    if (level.equals("WARN") || level.equals("ERROR")) {
      // The DataNodes' threads complain about being interrupted; nobody needs to read that.
      org.apache.log4j.LogManager.getRootLogger().setLevel(org.apache.log4j.Level.OFF);
    }
    shutdown();
    System.exit(0);
  }

  private static void startCluster(Configuration conf, File base, int port, int datanodes)
      throws IOException {
    MiniDFSCluster c =
        new MiniDFSCluster.Builder(conf, base)
            .nameNodePort(port)
            .nameNodeHttpPort(0)
            .numDataNodes(datanodes)
            .checkDataNodeAddrConfig(true)
            .format(true)
            .manageNameDfsDirs(true)
            .manageDataDfsDirs(true)
            .waitSafeMode(true)
            .build();
    synchronized (MiniDfs.class) {
      cluster = c;
    }
    c.waitActive();
  }

  /** Stop (signal or stdin EOF): once up, the main thread shuts down; before, exit at once. */
  private static void requestStop() {
    synchronized (MiniDfs.class) {
      stop.countDown();
      if (up) return;
    }
    new Thread(() -> System.exit(1), "minidfs-abort").start();
  }

  private static void waitForEof(InputStream in) {
    byte[] buf = new byte[4096];
    try {
      while (in.read(buf) >= 0) {
        // discard
      }
    } catch (IOException e) {
      // a broken stdin counts as EOF
    }
  }

  private static synchronized void shutdown() {
    if (cluster != null) {
      MiniDFSCluster c = cluster;
      cluster = null;
      try {
        c.shutdown();
      } catch (Throwable t) {
        System.err.println("minidfs: shutdown: " + t);
      }
    }
  }

  private static String value(String[] args, int i, String flag) {
    if (i >= args.length) die(flag + " needs a value");
    return args[i];
  }

  private static long number(String[] args, int i, String flag) {
    String v = value(args, i, flag);
    try {
      return Long.parseLong(v);
    } catch (NumberFormatException e) {
      die(flag + " wants a number, not " + v);
      return 0;
    }
  }

  private static void die(String msg) {
    System.err.println("minidfs: " + msg);
    System.err.println(USAGE);
    System.exit(2);
  }
}
