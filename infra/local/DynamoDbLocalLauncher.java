import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

/**
 * Starts DynamoDB Local bound to 127.0.0.1 only (its own CLI always listens on every interface).
 * Run as a single-file source program: java -cp <jars> DynamoDbLocalLauncher.java <DynamoDB Local args>
 */
public class DynamoDbLocalLauncher {
  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server jetty = (Server) field.get(proxy);
    for (Connector connector : jetty.getConnectors()) {
      if (connector instanceof ServerConnector) ((ServerConnector) connector).setHost("127.0.0.1");
    }
    proxy.start();
    // Stdin is a pipe from the Node process that started us: it closes when that process ends,
    // however it ends (even SIGKILL), and then DynamoDB Local must not live on as an orphan.
    Thread watchParent = new Thread(() -> {
      try {
        while (System.in.read() != -1) {}
      } catch (Exception e) {
        // a broken pipe is the same news as EOF
      }
      System.exit(0);
    });
    watchParent.setDaemon(true);
    watchParent.start();
    System.out.println("DynamoDB Local ready on 127.0.0.1");
    proxy.join();
  }
}
